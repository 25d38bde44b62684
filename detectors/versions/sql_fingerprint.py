"""The version of a SQL table's window: a fingerprint computed in the engine.

A table in PostgreSQL, a DuckDB file or Spark has no version of its own that Warden can
read, so a scan names what it read by the window's row count and an order-independent
sum of 64-bit row hashes, computed by the engine in one pass over the window (the rows
never reach Python):

- DuckDB: ``sum(hash(w))`` over the row struct (UBIGINT hashes, HUGEINT sum: no overflow);
- PostgreSQL: ``sum(hash_record_extended(w, 0))`` (binary values: the session time zone
  does not change it; numeric sum: no overflow). A column type without an extended hash
  (json, xml, point) makes the engine refuse: the fingerprint is then the row count alone,
  and says so (`hash_error`);
- Spark: ``sum(xxhash64(*))`` as a decimal.

A sum, not an exclusive or, so that a duplicated row changes it. Equal fingerprints mean
"very probably the same rows"; different ones mean the rows changed. Values from two engines,
or from two releases of one engine (DuckDB does not promise `hash` stable across releases),
are not comparable: the engine and its release are part of the details and of the id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from detectors.versions.base import SHORT_ID, DatasetVersion

if TYPE_CHECKING:
    from ibis.expr.types import Table

#: Engine (Ibis backend name) -> the aggregate over the window's rows, aliased `w`.
_HASH_SUMS = {
    "duckdb": "CAST(sum(hash(w)) AS VARCHAR)",
    "postgres": "CAST(sum(hash_record_extended(w, 0)) AS TEXT)",
    "pyspark": "CAST(sum(CAST(xxhash64(*) AS DECIMAL(38, 0))) AS STRING)",
}


def window_fingerprint(
    table: Table, time_column: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Rows and hash sum of `table`'s rows in [start, end), with the engine that computed
    them; `hash` is None (and `hash_error` says why) when the engine cannot hash a row."""
    from detectors.profile_queries import parametrised_window

    backend = table.get_backend()
    engine = str(backend.name)
    window, values = parametrised_window(table, time_column, start, end)
    inner = str(backend.compile(window, params=values))
    fingerprint: dict[str, Any] = {
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "engine": engine,
        "engine_version": _engine_version(backend),
    }
    hash_sum = _HASH_SUMS.get(engine)
    if hash_sum is not None:
        try:
            rows, digest = _first_row(backend, f"SELECT count(*), {hash_sum} FROM ({inner}) AS w")
            return {**fingerprint, "rows": int(rows), "hash": digest or "0"}
        except Exception as error:  # noqa: BLE001 - an engine that cannot hash a type
            fingerprint["hash_error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    else:
        fingerprint["hash_error"] = f"no row hash known for engine {engine!r}"
    (rows,) = _first_row(backend, f"SELECT count(*) FROM ({inner}) AS w")
    return {**fingerprint, "rows": int(rows), "hash": None}


def fingerprint_version(
    windows: dict[str, dict[str, Any]], schema: dict[str, str]
) -> DatasetVersion:
    """The `sql` version of a scan's window fingerprints (by window name: `current`...)."""
    keyed = {
        name: [w["rows"], w["hash"], w["engine"], w["engine_version"]]
        for name, w in sorted(windows.items())
    }
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()
    return DatasetVersion(digest[:SHORT_ID], "sql", {"windows": windows}, schema)


def _first_row(backend: Any, sql: str) -> tuple[Any, ...]:
    """The first row of `sql`, through the backend's own connection."""
    if backend.name == "pyspark":
        return tuple(backend._session.sql(sql).collect()[0])
    result = backend.raw_sql(sql)
    try:
        return tuple(result.fetchone())
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _engine_version(backend: Any) -> str:
    try:
        return str(backend.version)
    except Exception:  # noqa: BLE001 - the release is informative only
        return "unknown"

"""Property drift of an asset dataset: do the window's files look like the reference's?

The properties each read recorded (`PROPERTIES`: pixels wide and high, aspect ratio, bytes,
mean brightness 0-1, blur as the variance of the Laplacian of the grey thumbnail, audio
seconds and sample rate in Hz) of the files of the window and of the reference window come
from the store as two small column tables (one row per file, only decoded files of the
current `METRICS_VERSION`: blur depends on the analysis resolution). DuckDB profiles them as
the drift monitors profile a table's columns, and the existing drift detector compares them
with its methods and multiple-testing control (Benjamini-Hochberg across the properties by
default). Every finding becomes `asset_property_drift`, its column naming the property; a
resolution that never occurred in the reference (width and height with few values are
compared as categories) is one too.

A property the reference does not have for at least the drift's `min_rows` files (audio
seconds for a folder of images) is not compared. The current window holds the present
files; the reference also keeps files that have gone since (a retention job must not erase
the baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as sql_select
from sqlmodel import col

from daemon.scan.windows import Window
from daemon.store.asset_models import AssetRecord
from daemon.store.engine import Store
from detectors.assets.duck_tables import create_table
from detectors.assets.inspect import METRICS_VERSION
from detectors.assets.property_findings import property_findings
from detectors.drift.params import DriftParams
from detectors.results import DetectorResult

if TYPE_CHECKING:
    from detectors.profile import WindowProfile

#: Recorded properties compared between the window and the reference.
PROPERTIES = (
    "width",
    "height",
    "aspect",
    "size",
    "brightness",
    "blur",
    "duration_seconds",
    "sample_rate",
)
_TIME = "event_time"


def property_drift(
    store: Store, current: Window, reference: Window, params: DriftParams
) -> DetectorResult:
    """Compare the properties of the files of `current` with those of `reference`."""
    import ibis

    from detectors.drift.detector import detect_drift
    from detectors.profiling import profile_window

    reference_rows = _properties(store, reference, present_only=False)
    current_rows = _properties(store, current, present_only=True)
    columns = [
        name
        for index, name in enumerate(PROPERTIES)
        if sum(row[index] is not None for row in reference_rows) >= params.min_rows
    ]
    if not columns:
        return DetectorResult.insufficient(
            f"no property is known for {params.min_rows} reference files "
            f"({len(reference_rows)} decoded files in the reference window)"
        )
    connection = ibis.duckdb.connect()
    try:
        profiles: list[WindowProfile] = []
        for name, rows, window in (
            ("reference", reference_rows, reference),
            ("current", current_rows, current),
        ):
            create_property_table(connection.con, name, rows, _TIME)
            profiles.append(
                profile_window(
                    connection.table(name),
                    dataset=window.dataset,
                    time_column=_TIME,
                    start=window.start,
                    end=window.end,
                    columns=columns,
                    reference=profiles[0] if profiles else None,
                )
            )
    finally:
        connection.disconnect()
    result = detect_drift(profiles[0], profiles[1], params)
    return replace(result, findings=tuple(property_findings(result.findings)))


def create_property_table(
    connection: Any,
    name: str,
    rows: Sequence[Sequence[Any]],
    time_column: str,
    text_columns: Sequence[str] = (),
) -> None:
    """(Re)create DuckDB table `name` on `connection` from store rows holding
    `text_columns`, PROPERTIES (as doubles) and the time, in that order."""
    names = [*text_columns, *PROPERTIES, time_column]
    types = ["VARCHAR"] * len(text_columns) + ["DOUBLE"] * len(PROPERTIES) + ["TIMESTAMPTZ"]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    create_table(
        connection,
        name,
        {
            column: (sql_type, values)
            for column, sql_type, values in zip(names, types, columns, strict=True)
        },
    )


def _properties(store: Store, window: Window, *, present_only: bool) -> list[Any]:
    """The window's decoded files' properties and times, as store rows."""
    assert window.start is not None and window.end is not None
    conditions = [
        col(AssetRecord.dataset) == window.dataset,
        col(AssetRecord.status) == "ok",
        col(AssetRecord.metrics_version) == METRICS_VERSION,
        col(AssetRecord.event_time) >= window.start,
        col(AssetRecord.event_time) < window.end,
    ]
    if present_only:
        conditions.append(col(AssetRecord.gone_at).is_(None))
    selected = [getattr(AssetRecord, name) for name in (*PROPERTIES, _TIME)]
    with store.session(readonly=True) as session:
        return list(session.execute(sql_select(*selected).where(*conditions)).all())

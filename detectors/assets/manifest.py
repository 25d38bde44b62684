"""An asset dataset's manifest: the table that lists its files.

The manifest is a CSV or Parquet file (by its extension) with a `path` column (each file's
path relative to the dataset's root; a leading `./` or the root itself is taken off) and
optionally `label`, `split` (train, eval...) and `time` (the file's event time: ISO 8601
text, a date, or a timestamp; text without an offset is UTC). Column names are matched
without regard to case. Rows without a path are ignored.

DuckDB reads the manifest where it lies; Python receives only what a finding lists or a
batch of files needs: the splits and times of given paths, and the paths the manifest and
the folder disagree on (at most `limit` of each, with the whole count).

>>> MANIFEST_COLUMNS
('path', 'label', 'split', 'time')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from detectors.assets.duck_tables import create_table
from detectors.sources.errors import SourceError

MANIFEST_COLUMNS = ("path", "label", "split", "time")
#: File extensions read as CSV; everything else must be Parquet.
CSV_EXTENSIONS = (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class Listing:
    """At most `limit` paths (sorted) and how many there are in all."""

    paths: tuple[str, ...]
    count: int


class Manifest:
    """The manifest at `file` of the dataset whose files lie below `root`."""

    def __init__(self, file: str, root: str) -> None:
        import duckdb  # the engine of detection; imported when a manifest is used

        self.file = file
        if "\x00" in file:
            raise SourceError("the manifest's path holds a NUL character", key="manifest")
        if not os.path.isfile(file):
            raise SourceError(f"manifest {file!r} is not a readable file", key="manifest")
        self._connection = duckdb.connect()
        self._connection.execute("SET TimeZone = 'UTC'").fetchall()
        literal = "'" + file.replace("'", "''") + "'"
        reader = (
            f"read_csv({literal}, header = true, all_varchar = true)"
            if file.lower().endswith(CSV_EXTENSIONS)
            else f"read_parquet({literal})"
        )
        try:
            names = [
                row[0]
                for row in self._connection.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            ]
        except duckdb.Error as error:
            raise SourceError(
                f"manifest {file!r} cannot be read: {error}", key="manifest"
            ) from None
        found = {name.lower(): name for name in names}
        if "path" not in found:
            raise SourceError(
                f"manifest {file!r} has no `path` column (it has: {', '.join(names) or 'none'})",
                key="manifest",
            )
        self.columns = tuple(name for name in MANIFEST_COLUMNS if name in found)
        # A row may name its file from the root as configured or as resolved (a root
        # reached through a link): both are taken off, and `a//b`, `a/./b` and a leading
        # `./` are read as `a/b`.
        prefixes = {
            "configured": os.path.abspath(root).rstrip("/") + "/",
            "resolved": str(Path(root).resolve()).rstrip("/") + "/",
        }

        def column(name: str) -> str:
            return '"' + found[name].replace('"', '""') + '"'

        path = (
            "regexp_replace(regexp_replace(regexp_replace("
            f"CAST({column('path')} AS VARCHAR), '/(\\./)+', '/', 'g'), '/{{2,}}', '/', 'g'), "
            "'^(\\./)+', '')"
        )
        selected = [
            f"CASE WHEN starts_with({path}, $configured) THEN {path}[length($configured) + 1:] "
            f"WHEN starts_with({path}, $resolved) THEN {path}[length($resolved) + 1:] "
            f"ELSE {path} END AS path"
        ]
        for name in ("label", "split"):
            value = f"CAST({column(name)} AS VARCHAR)" if name in found else "NULL::VARCHAR"
            selected.append(f"{value} AS {name}")
        if "time" in found:
            raw = f"CAST({column('time')} AS VARCHAR)"
            selected.append(
                f"{raw} AS time_text, TRY_CAST({column('time')} AS TIMESTAMPTZ) AS time"
            )
        else:
            selected.append("NULL::VARCHAR AS time_text, NULL::TIMESTAMPTZ AS time")
        query = f"SELECT {', '.join(selected)} FROM {reader} WHERE {column('path')} IS NOT NULL"
        try:
            self._connection.execute(f"CREATE TEMP TABLE manifest AS {query}", prefixes).fetchall()
        except duckdb.Error as error:
            raise SourceError(
                f"manifest {file!r} cannot be read: {error}", key="manifest"
            ) from None
        bad = self._fetch_one(
            "SELECT count(*), min(time_text) FROM manifest "
            "WHERE time IS NULL AND time_text IS NOT NULL"
        )
        if bad[0]:
            raise SourceError(
                f"manifest {file!r}: {bad[0]} row(s) have a time that is not a date or time "
                f"(for example {bad[1]!r})",
                key="manifest",
            )

    @property
    def has_time(self) -> bool:
        return "time" in self.columns

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> int:
        return int(self._fetch_one("SELECT count(*) FROM manifest")[0])

    def splits(self, paths: Iterable[str]) -> dict[str, str]:
        """The split of each of `paths` that the manifest lists with one (the smallest by
        text when a path is listed twice with different splits)."""
        return {
            path: split
            for path, split in self._for(
                paths, "SELECT path, min(split) FROM manifest WHERE split IS NOT NULL GROUP BY path"
            )
        }

    def times(self, paths: Iterable[str]) -> dict[str, datetime]:
        """The time of each of `paths` that the manifest gives one (the earliest when a path
        is listed twice)."""
        return {
            path: time
            for path, time in self._for(
                paths, "SELECT path, min(time) FROM manifest WHERE time IS NOT NULL GROUP BY path"
            )
        }

    def changed_times(
        self, paths: Sequence[str], recorded: Sequence[datetime | None]
    ) -> dict[str, datetime]:
        """The files (of `paths`, recorded with the times `recorded`) whose time in the
        manifest is another: their new times. A file the manifest gives no time keeps its
        own."""
        create_table(
            self._connection,
            "recorded",
            {"path": ("VARCHAR", paths), "recorded": ("TIMESTAMPTZ", recorded)},
        )
        rows = self._connection.execute(
            "SELECT m.path, m.time FROM (SELECT path, min(time) AS time FROM manifest "
            "WHERE time IS NOT NULL GROUP BY path) m JOIN recorded r USING (path) "
            "WHERE m.time IS DISTINCT FROM r.recorded"
        ).fetchall()
        return dict(rows)

    def missing(
        self, found: Sequence[str], start: datetime | None, end: datetime | None, limit: int
    ) -> Listing:
        """Listed paths the folder does not hold; with a `time` column, only the rows whose
        time falls in [start, end)."""
        self._load("found", found)
        window = (
            "AND time >= $start AND time < $end"
            if self.has_time and start is not None and end is not None
            else ""
        )
        query = (
            f"SELECT DISTINCT path FROM manifest ANTI JOIN found USING (path) WHERE true {window}"
        )
        values: dict[str, Any] = {"start": start, "end": end} if window else {}
        return self._listing(query, values, limit)

    def unlisted(self, paths: Sequence[str], limit: int) -> Listing:
        """Those of `paths` the manifest does not list."""
        self._load("probe", paths)
        query = "SELECT path FROM probe ANTI JOIN manifest USING (path)"
        return self._listing(query, {}, limit)

    def _listing(self, query: str, values: dict[str, Any], limit: int) -> Listing:
        (count,) = self._fetch_one(f"SELECT count(*) FROM ({query})", values)
        rows = self._connection.execute(
            f"SELECT path FROM ({query}) ORDER BY path LIMIT {int(limit)}", values
        ).fetchall()
        return Listing(tuple(row[0] for row in rows), int(count))

    def _for(self, paths: Iterable[str], query: str) -> list[tuple[Any, ...]]:
        self._load("probe", list(paths))
        return self._connection.execute(
            f"SELECT q.* FROM ({query}) q JOIN probe USING (path)"
        ).fetchall()

    def _load(self, name: str, paths: Sequence[str]) -> None:
        create_table(self._connection, name, {"path": ("VARCHAR", paths)})

    def _fetch_one(self, query: str, values: dict[str, Any] | None = None) -> tuple[Any, ...]:
        rows = self._connection.execute(query, values or {}).fetchall()
        return tuple(rows[0])  # an aggregate always returns one row

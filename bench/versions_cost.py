"""What recording the dataset version costs a scan, and what reading a Delta or Iceberg
table costs against the same rows in plain Parquet.

Seeded data: a reference day and a current day of N rows each (10 numeric, 2 categorical
columns), written as a folder of Parquet files (`--files` per day), a Delta table (one
commit per day), an Iceberg table (one snapshot per day, SQLite catalog), a table in a
DuckDB database file and, with `--postgres URL`, a PostgreSQL table (`--small` rows).

For each: the whole `warden scan --json` process for a drift monitor of the current day
at the present (cold: the reference profiled too; cached: the reference from the store),
with its peak RSS; and, in one process, the time to read the version of the current window
(`daemon.scan.versions.read_version`: a manifest with footer digests, the table version,
or the engine's fingerprint; a Delta or Iceberg table's version is read when it is opened,
so opening is timed too) against the time to profile that window, the query every scan
runs anyway.

    python bench/versions_cost.py --rows 1000000 --files 50
    python bench/versions_cost.py --rows 1000000 --postgres postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: The data ends now: Delta and Iceberg tables are committed now, and a scan reads the
#: version current at its scan time, so every scan runs at the present.
DAY0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def _day(rng: np.random.Generator, day: int, rows: int) -> pa.Table:
    base = int((DAY0 + timedelta(days=day)).timestamp() * 1e6)
    columns: dict[str, object] = {
        "ts": pa.array(
            np.sort(rng.integers(0, 86_400_000_000, rows)) + base, pa.timestamp("us", "UTC")
        ),
    }
    for n in range(10):
        columns[f"num_{n:02d}"] = rng.normal(0.3 * day if n < 3 else 0.0, 1.0, rows)
    for n in range(2):
        columns[f"cat_{n:02d}"] = rng.choice(np.array(["a", "b", "c", "d"]), rows)
    return pa.table(columns)


def write_data(root: Path, rows: int, files: int, postgres: str | None, small: int) -> dict:
    rng = np.random.default_rng(7)
    days = [_day(rng, day, rows) for day in range(2)]
    (root / "parquet").mkdir(parents=True)
    for day, table in enumerate(days):
        for part, offset in enumerate(range(0, rows, -(-rows // files))):
            chunk = table.slice(offset, -(-rows // files))
            pq.write_table(chunk, root / "parquet" / f"day-{day}-{part:04d}.parquet")
    datasets: dict[str, dict] = {
        "parquet": {"format": "parquet", "path": str(root / "parquet"), "time_column": "ts"}
    }
    try:
        import deltalake

        for table in days:
            deltalake.write_deltalake(str(root / "delta"), table, mode="append")
        datasets["delta"] = {"format": "delta", "path": str(root / "delta"), "time_column": "ts"}
    except ImportError:
        print("deltalake not installed: no Delta run", file=sys.stderr)
    try:
        from pyiceberg.catalog.sql import SqlCatalog

        (root / "warehouse").mkdir()
        catalog = SqlCatalog(
            "default",
            uri=f"sqlite:///{root / 'catalog.db'}",
            warehouse=f"file://{root / 'warehouse'}",
        )
        catalog.create_namespace("bench")
        iceberg = catalog.create_table("bench.events", schema=days[0].schema)
        for table in days:
            iceberg.append(table)
        datasets["iceberg"] = {
            "format": "iceberg",
            "catalog": {"uri": f"sqlite:///{root / 'catalog.db'}"},
            "table": "bench.events",
            "time_column": "ts",
        }
    except ImportError:
        print("pyiceberg not installed: no Iceberg run", file=sys.stderr)
    import duckdb

    with duckdb.connect(str(root / "events.duckdb")) as connection:
        connection.execute(
            f"CREATE TABLE events AS SELECT * FROM read_parquet('{root / 'parquet'}/*.parquet')"
        )
    datasets["duckdb table"] = {
        "format": "duckdb",
        "url": str(root / "events.duckdb"),
        "table": "events",
        "time_column": "ts",
    }
    if postgres:
        import psycopg

        table = f"bench_versions_{os.getpid()}"
        with psycopg.connect(postgres, autocommit=True) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {table}")
            columns = ", ".join(
                ["ts timestamptz"]
                + [f"num_{n:02d} double precision" for n in range(10)]
                + [f"cat_{n:02d} text" for n in range(2)]
            )
            connection.execute(f"CREATE TABLE {table} ({columns})")
            for day in days:
                part = day.slice(0, small)
                names = part.column_names
                with connection.cursor().copy(
                    f"COPY {table} ({', '.join(names)}) FROM STDIN"
                ) as copy:
                    for row in zip(*(part[c].to_pylist() for c in names), strict=True):
                        copy.write_row(row)
            connection.execute(f"CREATE INDEX ON {table} (ts)")
            connection.execute(f"ANALYZE {table}")
        datasets["postgres table"] = {
            "format": "postgres",
            "url": postgres,
            "table": table,
            "time_column": "ts",
        }
    return datasets


def config_for(root: Path, name: str, dataset: dict) -> Path:
    folder = root / "runs" / name.replace(" ", "_")
    folder.mkdir(parents=True)
    config = {
        "store": {"url": f"sqlite:///{folder / 'warden.db'}"},
        "datasets": {"events": dataset},
        "monitors": [
            {
                "name": "events-drift",
                "kind": "drift",
                "dataset": "events",
                "reference": {
                    "start": DAY0.isoformat(),
                    "end": (DAY0 + timedelta(days=1)).isoformat(),
                },
                "window": "1d",
            }
        ],
        "playbooks": {"work_root": str(folder / "work")},
    }
    path = folder / "warden.yaml"
    path.write_text(json.dumps(config))
    return path


def timed_scan(config: Path) -> dict:
    """One `warden scan --json` process: seconds, peak RSS (MB), status and version."""
    warden = Path(sys.executable).with_name("warden")
    start = time.perf_counter()
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            str(warden),
            "scan",
            "-c",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    report = json.loads(done.stdout.splitlines()[0])
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "rss_mb": peak_kb / 1024,
        "status": report["status"],
        "version": report["dataset_version"],
        "kind": report["dataset_version_kind"],
    }


def version_share(name: str, dataset: dict) -> dict:
    """In one process: the current window's profile, then reading its version."""
    from daemon.config.models import DatasetConfig
    from daemon.scan.datasets import open_dataset
    from daemon.scan.versions import read_version
    from daemon.scan.windows import Window

    settings = DatasetConfig.model_validate(dataset)
    now = datetime.now(UTC)
    start = time.perf_counter()
    source = open_dataset("events", settings, at=now)
    open_seconds = time.perf_counter() - start
    window = Window("events", now - timedelta(days=1), now)
    start = time.perf_counter()
    source.profile(window.start, window.end, source.default_columns())
    profile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    version = read_version("events", settings, source, {"current": window.to_dict()})
    version_seconds = time.perf_counter() - start
    return {
        "open_s": open_seconds,
        "profile_s": profile_seconds,
        "version_s": version_seconds,
        "kind": version.kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per day")
    parser.add_argument("--files", type=int, default=50, help="Parquet files per day")
    parser.add_argument("--postgres", help="a PostgreSQL URL to include a table there")
    parser.add_argument("--small", type=int, default=200_000, help="rows per day in PostgreSQL")
    parser.add_argument("--root", default="/tmp/warden-bench-versions")
    args = parser.parse_args()
    root = Path(args.root)
    if root.exists():
        import shutil

        shutil.rmtree(root)
    datasets = write_data(root, args.rows, args.files, args.postgres, args.small)
    print(f"{args.rows:,} rows a day, {args.files} Parquet files a day")
    headers = (
        "dataset",
        "version kind",
        "cold scan",
        "cached scan",
        "peak RSS (cached)",
        "open (Delta, Iceberg: the version too)",
        "profile of the window",
        "version read",
        "version / profile",
    )
    print("| " + " | ".join(headers) + " |")
    print("|" + " --- |" * len(headers))
    for name, dataset in datasets.items():
        config = config_for(root, name, dataset)
        cold = timed_scan(config)
        cached = timed_scan(config)
        share = version_share(name, dataset)
        cells = (
            name,
            str(cold["kind"]),
            f"{cold['seconds']:.2f} s",
            f"{cached['seconds']:.2f} s",
            f"{cached['rss_mb']:.0f} MB",
            f"{share['open_s']:.3f} s",
            f"{share['profile_s']:.3f} s",
            f"{share['version_s']:.3f} s",
            f"{share['version_s'] / share['profile_s']:.2f}",
        )
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

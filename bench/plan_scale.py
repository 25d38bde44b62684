"""How long a remediation plan takes, and how much memory, on big windows and each engine.

Each plan runs in a fresh process (peak RSS is that process's own `VmHWM`) through the same
path the daemon takes: the dataset opened from a config (`daemon.scan.datasets`), the
playbook's context (`daemon.remediation.proposals.playbook_context`), `playbook.plan`.

- `relabel_batch` over a window of N rows (20 columns plus a label and three class
  probabilities), once per strategy: drift_density, uncertainty, stratified (by region and
  by time), label_issues; batch_size 200.
- `synthetic_backfill` for a missing day after seven days that hold N rows in all.

DuckDB over Parquet at N rows; PostgreSQL and Spark (local mode) at `--small` rows, the
same data loaded into a table or read from the same Parquet file.

    python bench/plan_scale.py --rows 10000000                  # DuckDB at 10M
    python bench/plan_scale.py --rows 1000000 --small 200000 --engines duckdb postgres spark
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from drift_vs_evidently import own_peak_rss_mb

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 1_000_000
LEVELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
REGIONS = np.array([f"r{n:02d}" for n in range(12)])
CLASSES = ("a", "b", "c")
RELABEL = {
    "drift_density": {"strategy": "drift_density"},
    "uncertainty": {
        "strategy": "uncertainty",
        "probability_columns": ["p_a", "p_b", "p_c"],
    },
    "stratified by region": {"strategy": "stratified", "stratify_by": "region"},
    "stratified by time": {"strategy": "stratified"},
    "label_issues": {
        "strategy": "label_issues",
        "probability_columns": ["p_a", "p_b", "p_c"],
        "class_values": list(CLASSES),
    },
}
DRIFTED = ("num_00", "num_01", "num_02", "num_03", "cat_00", "cat_01")


def _chunk(rng: np.random.Generator, rows: int, start: datetime, span: timedelta, drifted: bool):
    offsets = np.sort(rng.integers(0, int(span.total_seconds() * 1e6), rows))
    columns: dict[str, object] = {
        "timestamp": pa.array(
            np.datetime64(start.replace(tzinfo=None), "us") + offsets.astype("timedelta64[us]")
        )
    }
    for index in range(14):
        values = rng.normal(0, 1, rows) + (0.5 if drifted and index < 4 else 0.0)
        columns[f"num_{index:02d}"] = values
    for index in range(6):
        shares = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
        if drifted and index < 2:
            shares = np.array([0.1, 0.15, 0.2, 0.2, 0.15, 0.2])
        columns[f"cat_{index:02d}"] = LEVELS[rng.choice(len(LEVELS), rows, p=shares)]
    columns["region"] = REGIONS[rng.integers(0, len(REGIONS), rows)]
    truth = rng.integers(0, 3, rows)
    logits = rng.normal(0, 1, (rows, 3))
    logits[np.arange(rows), truth] += 2.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = np.where(rng.random(rows) < 0.1, rng.integers(0, 3, rows), truth)
    columns["label"] = np.array(CLASSES)[given]
    for index, name in enumerate(CLASSES):
        columns[f"p_{name}"] = probabilities[:, index]
    return pa.table(columns)


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    """`window.parquet`: a reference day and a drifted current day of `rows` rows each;
    `daily.parquet`: seven days of `rows` rows in all, then nothing on the eighth."""
    folder.mkdir(parents=True, exist_ok=True)
    window, daily = folder / "window.parquet", folder / "daily.parquet"
    rng = np.random.default_rng(rows)
    for target, days in ((window, ((0, rows, False), (1, rows, True))), (daily, None)):
        if target.exists():
            continue
        plan = days or tuple((day, rows // 7, False) for day in range(7))
        writer = None
        for day, count, drifted in plan:
            start = DAY0 + timedelta(days=day)
            for offset in range(0, count, CHUNK):
                size = min(CHUNK, count - offset)
                chunk = _chunk(
                    rng,
                    size,
                    start + timedelta(days=1) * (offset / count),
                    timedelta(days=1) * (size / count),
                    drifted,
                )
                writer = writer or pq.ParquetWriter(target, chunk.schema)
                writer.write_table(chunk)
        assert writer is not None
        writer.close()
    return window, daily


def dataset_settings(engine: str, parquet: Path, table: str, postgres_url: str) -> dict:
    roles = {"label": "label", "prediction": "p_a"}
    base = {"time_column": "timestamp", "roles": roles}
    if engine == "duckdb":
        return {**base, "format": "parquet", "path": str(parquet)}
    if engine == "postgres":
        return {**base, "format": "postgres", "url": postgres_url, "table": table}
    return {**base, "format": "spark", "path": str(parquet), "url": "local[2]"}


def load_postgres(parquet: Path, url: str, table: str) -> None:
    """The Parquet file as a PostgreSQL table, loaded with psycopg's COPY."""
    import psycopg

    frame = pq.read_table(parquet)
    names = frame.schema.names
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        types = {
            "timestamp": "timestamptz",
            "label": "text",
            "region": "text",
        }
        columns = ", ".join(
            f'"{n}" {types.get(n, "text" if n.startswith("cat") else "double precision")}'
            for n in names
        )
        connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        connection.execute(f'CREATE TABLE "{table}" ({columns})')
        with connection.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
            for batch in frame.to_batches(50_000):
                for row in zip(
                    *(batch.column(i).to_pylist() for i in range(len(names))), strict=True
                ):
                    copy.write_row(row)
        connection.commit()


# --- the worker: one plan in a fresh process ------------------------------------------------


def worker(spec: dict) -> dict:
    from daemon.config.models import WardenConfig
    from daemon.remediation.proposals import playbook_context
    from playbooks.base import IncidentView
    from playbooks.registry import get_playbook

    config = WardenConfig.model_validate(
        {
            "datasets": {"events": spec["dataset"]},
            "playbooks": {"work_root": spec["work_root"]},
        }
    )
    playbook = get_playbook(spec["playbook"])
    params = playbook.parse_params(spec["params"])
    incident = IncidentView(
        id=1,
        dataset="events",
        pattern=spec["pattern"],
        scope=spec.get("scope", {}),
        columns=tuple(spec.get("columns", ())),
        windows=spec["windows"],
        findings=tuple(spec.get("findings", ())),
    )
    context = playbook_context(config, "events")
    if spec.get("findings_from_scan"):
        incident = replace(incident, findings=_scan_findings(context, spec))
    started = time.perf_counter()
    plan = playbook.plan(incident, params, context)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "summary": plan.summary[:160], "hash": plan.hash[:12]}


def _scan_findings(context, spec: dict) -> tuple[dict, ...]:
    """The drift findings a scan of the incident's windows records (untimed: in the daemon
    the scan has run before the plan), so the plan sees the evidence it sees there."""
    from detectors.drift.detector import detect_drift
    from detectors.drift.params import DriftParams
    from detectors.profiling import ProfileOptions

    windows = {
        name: (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
        for name, w in spec["windows"].items()
    }
    columns = list(spec["columns"])
    options = ProfileOptions()
    with context.source() as source:
        reference = source.profile(*windows["reference"], columns, options=options)
        current = source.profile(*windows["current"], columns, reference=reference, options=options)
    result = detect_drift(reference, current, DriftParams())
    return tuple(f.to_dict() for f in result.findings if f.column in columns)


def run_plan(name: str, spec: dict) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"name": name, "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"name": name, "wall": wall, **result}


def _window(start: datetime, length: timedelta) -> dict[str, str]:
    return {"dataset": "events", "start": start.isoformat(), "end": (start + length).isoformat()}


def specs(engine: str, window: Path, daily: Path, rows: int, args: argparse.Namespace) -> dict:
    work = str(args.out.resolve() / "work")
    day = timedelta(days=1)
    current = {
        "dataset": "events",
        "start": (DAY0 + day).isoformat(),
        "end": (DAY0 + 2 * day).isoformat(),
    }
    reference = {"dataset": "events", "start": DAY0.isoformat(), "end": (DAY0 + day).isoformat()}
    found = {}
    for label, params in RELABEL.items():
        found[f"relabel {label}"] = {
            "dataset": dataset_settings(engine, window, "plan_window", args.postgres_url),
            "work_root": work,
            "playbook": "relabel_batch",
            "pattern": "feature_drift",
            "params": {**params, "batch_size": 200},
            "columns": DRIFTED,
            "windows": {"current": current, "reference": reference},
            "findings_from_scan": label == "drift_density",
        }
    missing = DAY0 + 7 * day
    found["synthetic_backfill"] = {
        "dataset": dataset_settings(engine, daily, "plan_daily", args.postgres_url),
        "work_root": work,
        "playbook": "synthetic_backfill",
        "pattern": "missing_partition",
        "params": {"max_synthetic_share": 0.2},
        "scope": {"partition": missing.isoformat()},
        "windows": {
            "current": {
                "dataset": "events",
                "start": missing.isoformat(),
                "end": (missing + day).isoformat(),
            }
        },
        "findings": [
            {
                "pattern": "missing_partition",
                "alert": True,
                "details": {"partition": missing.isoformat(), "bucket": "1d"},
            }
        ],
    }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window, DuckDB")
    parser.add_argument("--small", type=int, default=200_000, help="rows, PostgreSQL and Spark")
    parser.add_argument("--engines", nargs="*", default=["duckdb"], help="duckdb postgres spark")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("WARDEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/plans"))
    parser.add_argument(
        "--only", nargs="*", default=[], help="run only the plans whose name contains one of these"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(json.loads(args.worker))
        print(json.dumps({**result, "peak_rss_mb": own_peak_rss_mb()}))
        return
    results = []
    for engine in args.engines:
        rows = args.rows if engine == "duckdb" else args.small
        print(f"\n== {engine}, {rows:,} rows: writing data...", flush=True)
        window, daily = write_data(args.out / f"{rows}", rows)
        if engine == "postgres":
            load_postgres(window, args.postgres_url, "plan_window")
            load_postgres(daily, args.postgres_url, "plan_daily")
        for name, spec in specs(engine, window, daily, rows, args).items():
            if args.only and not any(part in name for part in args.only):
                continue
            result = {"engine": engine, "rows": rows, **run_plan(name, spec)}
            results.append(result)
            if "error" in result:
                print(f"   {name:<28} ERROR {result['error']}", flush=True)
                continue
            print(
                f"   {name:<28} plan {result['seconds']:6.2f} s  process {result['wall']:6.2f} s  "
                f"peak RSS {result['peak_rss_mb']:6.0f} MB  {result['summary'][:70]}",
                flush=True,
            )
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

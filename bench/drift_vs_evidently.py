"""Warden's drift scan against Evidently's DataDriftPreset on the same data, in one run.

For each size N the script writes one Parquet file with a reference day and a current day of
N rows each: 20 columns (14 numeric, 6 categorical), of which 4 numeric and 2 categorical
drift in the current day. Then each tool runs in its own fresh process, so that peak RSS is
the tool's own:

- Warden, cold: a new store; the reference profile is computed, then the current window.
- Warden, cached: the same store again; only the current window is read.
- Warden, first alert: the whole `warden scan --json` process, as a user waits for it, with
  the default routes: the reference already cached by an earlier scan (of the clean day), the
  scan opens the drift incident and plans its default `relabel_batch` proposal.
- Warden, CLI cached: the same command again (the incident is open, nothing new to plan).
- DuckDB by hand, the engine's limit: the statistics a cached scan needs of the current
  window in one hand-written DuckDB query over the file (reference cut points given), plus
  one for the category counts; the whole process, Python and `import duckdb` included.
- Evidently: both windows loaded into pandas, then `Report([DataDriftPreset()]).run(...)`.

Workers run with compiled modules cached, as in an installation (the script byte-compiles
Warden's packages first, as pip does). It prints wall time of the whole process, compute
time (after imports), peak RSS, the ratios, and whether each tool's drifted columns match
the injected ones. Peak RSS is the worker's own high-water mark (`VmHWM`, which starts
afresh at exec): the `ru_maxrss` that `wait4` reports would also carry the peak of the
forking parent, which has just generated the data.

    python bench/drift_vs_evidently.py                       # 100k and 1M rows
    python bench/drift_vs_evidently.py --sizes 100000 1000000 5000000
    python bench/drift_vs_evidently.py --warden-only 10000000  # Warden alone, RSS check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)
NUMERIC, CATEGORICAL = 14, 6
DRIFTED = {"num_00", "num_01", "num_02", "num_03", "cat_00", "cat_01"}
LEVELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
CHUNK = 1_000_000


@dataclass
class Measurement:
    rows: int
    tool: str
    wall_seconds: float
    compute_seconds: float
    peak_rss_mb: float
    drifted: list[str]
    #: Proposal statuses the scan reported (`proposed`, `queued`...), CLI runs only.
    proposals: list[str] | None = None

    @property
    def agrees(self) -> bool:
        return set(self.drifted) == DRIFTED


def _chunk(
    rng: np.random.Generator, rows: int, start: datetime, span: timedelta, drifted: bool
) -> pa.Table:
    offsets = np.sort(rng.integers(0, int(span.total_seconds() * 1e6), rows))
    columns: dict[str, object] = {
        "timestamp": pa.array(
            np.datetime64(start.replace(tzinfo=None), "us") + offsets.astype("timedelta64[us]")
        ),
    }
    for index in range(NUMERIC):
        values = rng.normal(0, 1, rows) if index % 2 else rng.lognormal(0, 0.5, rows)
        if drifted and index == 0:
            values = values + 0.5  # a mean shift of about one standard deviation
        if drifted and index == 1:
            values = values * 1.6  # a variance change
        if drifted and index in (2, 3):
            values = values + 0.3 * values.std()
        columns[f"num_{index:02d}"] = values
    for index in range(CATEGORICAL):
        shares = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
        if drifted and index in (0, 1):
            shares = np.array([0.1, 0.15, 0.2, 0.2, 0.15, 0.2])
        columns[f"cat_{index:02d}"] = LEVELS[rng.choice(len(LEVELS), rows, p=shares)]
    return pa.table(columns)


def write_dataset(folder: Path, rows: int) -> Path:
    """One Parquet file: the reference day then the current day, N rows each (seeded)."""
    target = folder / "events.parquet"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    writer = None
    for day, drifted in ((0, False), (1, True)):
        start = DAY0 + timedelta(days=day)
        for offset in range(0, rows, CHUNK):
            size = min(CHUNK, rows - offset)
            span = timedelta(days=1) * (size / rows)
            table = _chunk(rng, size, start + timedelta(days=1) * (offset / rows), span, drifted)
            writer = writer or pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
    assert writer is not None
    writer.close()
    return target


def write_config(
    folder: Path, data: Path, store: str = "warden.db", name: str = "warden.yaml"
) -> Path:
    """A drift monitor of every column over the data, no routes (the defaults apply), and
    the work root for playbooks beside the store."""
    config = folder / name
    end = (DAY0 + timedelta(days=1)).isoformat()
    config.write_text(
        f"store: {{url: 'sqlite:///{store}'}}\n"
        f"playbooks: {{work_root: '{folder / 'work'}'}}\n"
        f"datasets:\n  events: {{format: parquet, path: '{data}', time_column: timestamp}}\n"
        "monitors:\n"
        "  - name: drift\n    kind: drift\n    dataset: events\n"
        f"    reference: {{start: '{DAY0.isoformat()}', end: '{end}'}}\n"
        "    window: 1d\n"
    )
    return config


# --- workers: each runs in its own process ------------------------------------------------


def own_peak_rss_mb() -> float | None:
    """This process's peak resident set since exec, in MB (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def warden_worker(config_path: str) -> dict[str, object]:
    started = time.perf_counter()
    from daemon.config import load_config
    from daemon.scan import run_scan, sync_monitors
    from daemon.store.engine import open_store

    config = load_config(config_path)
    store = open_store(config.store.url)
    sync_monitors(store, config)
    # Compute starts after the imports a scan needs, as Evidently's starts after its
    # imports. A cached scan needs no expression layer (its dataset is reopened from a
    # record, its queries from the store), so Ibis is not loaded here: the cold scan, which
    # compiles, imports it inside its timer.
    compute_start = time.perf_counter()
    report = run_scan(config, config.monitors[0], DAY0 + timedelta(days=2), store)
    compute = time.perf_counter() - compute_start
    assert report is not None and report.status in ("ok", "alert"), report and report.message
    drifted = sorted(
        f["column"] for f in report.findings if f["alert"] and f["pattern"] == "feature_drift"
    )
    return {
        "compute_seconds": compute,
        "import_seconds": compute_start - started,
        "drifted": drifted,
        "cached": report.reference_cached,
    }


def cli_worker(config_path: str, at: str) -> dict[str, object]:
    """`warden scan --json` in this process, as the `warden` executable runs it; the
    process's peak RSS is then the command's own."""
    import contextlib
    import io

    started = time.perf_counter()
    from daemon.cli.app import main as warden

    sys.argv = ["warden", "scan", "-c", config_path, "--at", at, "--json"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        warden()
    reports = [json.loads(line) for line in printed.getvalue().splitlines() if line.strip()]
    assert reports, "warden scan printed nothing"
    return {
        "compute_seconds": time.perf_counter() - started,
        "import_seconds": 0.0,
        "drifted": sorted(
            f["column"]
            for report in reports
            for f in report["findings"]
            if f["alert"] and f["pattern"] == "feature_drift"
        ),
        "proposals": [p["status"] for report in reports for p in report.get("proposals", [])],
    }


def reference_edges(data: Path) -> dict[str, list[float]]:
    """Each numeric column's 19 interior cut points at the reference day's 5 % quantiles, as
    a cached reference profile holds them (computed here, outside any timing)."""
    import duckdb

    split = (DAY0 + timedelta(days=1)).replace(tzinfo=None)
    levels = [i / 20 for i in range(1, 20)]
    columns = [f"num_{index:02d}" for index in range(NUMERIC)]
    selects = ", ".join(f"quantile_cont({name}, {levels}) AS {name}" for name in columns)
    row = (
        duckdb.connect()
        .execute(f"SELECT {selects} FROM read_parquet(?) WHERE timestamp < ?", [str(data), split])
        .fetchone()
    )
    assert row is not None
    return {name: [float(edge) for edge in edges] for name, edges in zip(columns, row, strict=True)}


def duckdb_worker(data_path: str, edges_path: str) -> dict[str, object]:
    """The hand-written limit: the current day's statistics that a cached Warden scan needs,
    in one DuckDB query over the Parquet file (counts, moments, sketched quantiles and
    counts at the reference's cut points for each numeric column, distinct counts for each
    categorical one) and one more for the categories' counts. No store, no config, no test
    statistics: what the engine alone costs, the whole process included."""
    started = time.perf_counter()
    import duckdb

    compute_start = time.perf_counter()
    edges = json.loads(Path(edges_path).read_text())
    levels = [i / 100 for i in range(101)]
    parts = ["count(*) AS n"]
    for name, cuts in edges.items():
        parts += [
            f"count({name})",
            f"min({name})",
            f"max({name})",
            f"avg({name})",
            f"stddev_samp({name})",
            f"approx_quantile({name}, {levels})",
            *(f"sum(CAST({name} <= {cut!r} AS INTEGER))" for cut in cuts),
        ]
    categorical = [f"cat_{index:02d}" for index in range(CATEGORICAL)]
    parts += [f"count(DISTINCT {name})" for name in categorical]
    day = [(DAY0 + timedelta(days=d)).replace(tzinfo=None) for d in (1, 2)]
    where = "FROM read_parquet(?) WHERE timestamp >= ? AND timestamp < ?"
    connection = duckdb.connect()
    connection.execute(f"SELECT {', '.join(parts)} {where}", [data_path, *day]).fetchall()
    unions = " UNION ALL ".join(
        f"SELECT '{name}' AS c, CAST({name} AS VARCHAR) AS v, count(*) AS n {where} GROUP BY 2"
        for name in categorical
    )
    connection.execute(unions, [data_path, *day] * len(categorical)).fetchall()
    return {
        "compute_seconds": time.perf_counter() - compute_start,
        "import_seconds": compute_start - started,
        "drifted": [],
    }


def evidently_worker(data_path: str) -> dict[str, object]:
    started = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    compute_start = time.perf_counter()
    frame = pd.read_parquet(data_path)
    split = pd.Timestamp(DAY0 + timedelta(days=1)).tz_localize(None)
    times = frame.pop("timestamp")
    reference, current = frame[times < split], frame[times >= split]
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    compute = time.perf_counter() - compute_start
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if "column" in config and "threshold" in config:
            value, threshold = metric["value"], config["threshold"]
            is_test = (
                "p_value" in config.get("method", "").lower()
                or "test" in config.get("method", "").lower()
            )
            if (value < threshold) if is_test else (value >= threshold):
                drifted.append(config["column"])
    return {
        "compute_seconds": compute,
        "import_seconds": compute_start - started,
        "drifted": sorted(drifted),
    }


# --- harness ---------------------------------------------------------------------------------


def worker_environment() -> dict[str, str]:
    """The workers' environment: compiled modules (.pyc) are used and kept, as in any
    installation (a sandbox that sets PYTHONDONTWRITEBYTECODE would make every Warden worker
    recompile the project's modules, while the peers' come compiled by pip)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_project() -> None:
    """Byte-compile Warden's packages once, as `pip install` does for an installed package."""
    root = Path(__file__).resolve().parent.parent
    packages = [str(root / name) for name in ("daemon", "detectors", "playbooks", "agents")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *packages], check=True, env=worker_environment()
    )


def measure(rows: int, tool: str, args: list[str], cwd: Path) -> Measurement:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env=worker_environment(),
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{tool} failed at {rows} rows:\n{output}")
    result = json.loads(output.strip().splitlines()[-1])
    return Measurement(
        rows,
        tool,
        wall,
        float(result["compute_seconds"]),
        float(result["peak_rss_mb"] or usage.ru_maxrss / 1024),
        list(result["drifted"]),
        result.get("proposals"),
    )


def run_size(rows: int, out: Path, with_evidently: bool) -> list[Measurement]:
    folder = out / f"{rows}"
    print(f"\n== {rows:,} rows per window: writing data...", flush=True)
    data = write_dataset(folder, rows)
    config = write_config(folder, data)
    for stale in folder.glob("warden.db*"):
        stale.unlink()
    results = [
        measure(rows, "warden (cold)", ["warden", str(config)], folder),
        measure(rows, "warden (cached)", ["warden", str(config)], folder),
    ]
    alert_config = write_config(folder, data, store="alert.db", name="alert.yaml")
    for stale in folder.glob("alert.db*"):
        stale.unlink()
    clean_day, drifted_day = (DAY0 + timedelta(days=d) for d in (1, 2))
    measure(rows, "warden (prime)", ["cli", f"{alert_config}|{clean_day.isoformat()}"], folder)
    results += [
        measure(
            rows, "warden first alert", ["cli", f"{alert_config}|{drifted_day.isoformat()}"], folder
        ),
        measure(
            rows, "warden CLI cached", ["cli", f"{alert_config}|{drifted_day.isoformat()}"], folder
        ),
    ]
    edges = folder / "edges.json"
    edges.write_text(json.dumps(reference_edges(data)))
    results.append(measure(rows, "duckdb by hand", ["duckdb", f"{data}|{edges}"], folder))
    if with_evidently:
        results.append(measure(rows, "evidently", ["evidently", str(data)], folder))
    for item in results:
        print(
            f"   {item.tool:<19} wall {item.wall_seconds:7.1f} s  "
            f"compute {item.compute_seconds:7.1f} s  "
            f"peak RSS {item.peak_rss_mb:7.0f} MB"
            + (
                f"  drifted={item.drifted} agrees={item.agrees}"
                if item.tool != "duckdb by hand"
                else ""
            )
            + (f"  proposals={item.proposals}" if item.proposals is not None else ""),
            flush=True,
        )
    return results


def summary(results: list[Measurement]) -> None:
    print("\nrows        first alert: wall   plan adds   vs evidently (wall)   RSS / evidently")
    for rows in sorted({r.rows for r in results}):
        by_tool = {r.tool: r for r in results if r.rows == rows}
        alert, cached = by_tool.get("warden first alert"), by_tool.get("warden CLI cached")
        evidently = by_tool.get("evidently")
        if alert is None or cached is None:
            continue
        versus = (
            f"{evidently.wall_seconds / alert.wall_seconds:>18.1f}x "
            f"{alert.peak_rss_mb / evidently.peak_rss_mb:>14.2f}"
            if evidently
            else ""
        )
        print(
            f"{rows:>10,}  {alert.wall_seconds:>16.1f} s "
            f"{alert.wall_seconds - cached.wall_seconds:>9.1f} s {versus}"
        )
    print("\nrows        warden cached vs DuckDB by hand (the engine's limit): wall   peak RSS")
    for rows, cached, limit in _pairs(results, "warden (cached)", "duckdb by hand"):
        print(
            f"{rows:>10,}  {cached.wall_seconds:>6.2f} s / {limit.wall_seconds:.2f} s = "
            f"{cached.wall_seconds / limit.wall_seconds:.2f}x{'':>14}"
            f"{cached.peak_rss_mb:>5.0f} / {limit.peak_rss_mb:.0f} MB"
        )
    print("\nrows        warden cached vs evidently: wall   compute   peak RSS   same verdicts")
    for rows, cached, evidently in _pairs(results, "warden (cached)", "evidently"):
        print(
            f"{rows:>10,}  {evidently.wall_seconds / cached.wall_seconds:>28.1f}x "
            f"{evidently.compute_seconds / cached.compute_seconds:>8.1f}x "
            f"{cached.peak_rss_mb / evidently.peak_rss_mb:>9.2f}   "
            f"{'yes' if set(cached.drifted) == set(evidently.drifted) else 'NO'}"
        )


def _pairs(
    results: list[Measurement], first: str, second: str
) -> Iterator[tuple[int, Measurement, Measurement]]:
    """(rows, the `first` tool's measurement, the `second`'s) for each size both ran at."""
    for rows in sorted({r.rows for r in results}):
        by_tool = {r.tool: r for r in results if r.rows == rows}
        one, other = by_tool.get(first), by_tool.get(second)
        if one is not None and other is not None:
            yield rows, one, other


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[100_000, 1_000_000],
        help="rows per window, both tools",
    )
    parser.add_argument(
        "--warden-only", type=int, nargs="*", default=[], help="rows per window, Warden alone"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench/out"), help="where data and results go"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, target = args.worker
        if tool == "cli":
            result = cli_worker(*target.split("|"))
        elif tool == "warden":
            result = warden_worker(target)
        elif tool == "duckdb":
            result = duckdb_worker(*target.split("|"))
        else:
            result = evidently_worker(target)
        print(json.dumps({**result, "peak_rss_mb": own_peak_rss_mb()}))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    compile_project()
    results: list[Measurement] = []
    for rows in args.sizes:
        results += run_size(rows, args.out.resolve(), with_evidently=True)
    for rows in args.warden_only:
        results += run_size(rows, args.out.resolve(), with_evidently=False)
    summary(results)
    (args.out / "results.json").write_text(
        json.dumps([{**asdict(r), "agrees": r.agrees} for r in results], indent=2)
    )
    print(f"\nresults written to {args.out / 'results.json'}")


if __name__ == "__main__":
    main()

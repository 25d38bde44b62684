"""Multivariate drift: Warden's PCA reconstruction test against NannyML's
`DataReconstructionDriftCalculator` on the same seeded data, and beside Warden's univariate
drift scan of the same window.

Seeded data (`--rows` per day): a reference day, a clean day and a drifted day, each with
six numeric columns (x0-x1 correlated 0.8, x2 lognormal, x3 tied to log x2, two
independent normals) and a three-level segment; the drifted day keeps every marginal and
lowers the x0-x1 correlation to 0.2. Written as Parquet files, one folder per day.

Measured, each in its own process (wall time of the whole process and its peak RSS, from
`wait4`; the data is written by a child process so that this one stays small, since a
forked worker's peak starts at its parent's size):
- Warden: `warden scan --json` of a `multivariate_drift` monitor (the default config:
  pca_reconstruction) on the clean day, first (the model fitted on the reference) and
  cached, then on the drifted day; and a `drift` monitor (univariate) of the same window;
- NannyML: fit on the reference day and calculate on each day as one chunk (its alert is
  the reference chunks' mean +- 3 sd; chunks of `--chunk` rows), with a Python that has
  nannyml (`--nannyml-python`; NannyML pins lightgbm<4.6 and brings 1.3 GB, so it is not a
  project dependency). NML_DISABLE_USAGE_LOGGING=1 keeps it from calling home.

    python bench/multivariate_vs_nannyml.py --rows 1000000 --nannyml-python /tmp/nml/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
COLUMNS = ["x0", "x1", "x2", "x3", "x4", "x5", "segment"]


def _day(rng: np.random.Generator, day: int, rows: int, rho: float, files: int) -> list[pa.Table]:
    import numpy as np
    import pyarrow as pa

    x0 = rng.normal(size=rows)
    x1 = rho * x0 + np.sqrt(1 - rho**2) * rng.normal(size=rows)
    log_x2 = rng.normal(size=rows)
    base = int((DAY0 + timedelta(days=day)).timestamp() * 1e6)
    table = pa.table(
        {
            "ts": pa.array(
                np.sort(rng.integers(0, 86_400_000_000, rows)) + base, pa.timestamp("us", "UTC")
            ),
            "x0": x0,
            "x1": x1,
            "x2": np.exp(log_x2),
            "x3": 0.5 * log_x2 + rng.normal(size=rows),
            "x4": rng.normal(size=rows),
            "x5": rng.normal(size=rows),
            "segment": rng.choice(np.array(["a", "b", "c"]), rows, p=[0.5, 0.3, 0.2]),
        }
    )
    step = -(-rows // files)
    return [table.slice(offset, step) for offset in range(0, rows, step)]


def write_data(root: Path, rows: int, files: int) -> None:
    """Write the three days (run in a child process: see `main`)."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20)
    for day, (name, rho) in enumerate([("reference", 0.8), ("clean", 0.8), ("drifted", 0.2)]):
        folder = root / "events" / name
        folder.mkdir(parents=True)
        for part, table in enumerate(_day(rng, day, rows, rho, files)):
            pq.write_table(table, folder / f"part-{part:03d}.parquet")


def write_config(root: Path) -> Path:
    reference = {"start": DAY0.isoformat(), "end": (DAY0 + timedelta(days=1)).isoformat()}
    config = {
        "store": {"url": f"sqlite:///{root / 'store.db'}"},
        "datasets": {
            "events": {"format": "parquet", "path": str(root / "events"), "time_column": "ts"}
        },
        "monitors": [
            {
                "name": "multivariate",
                "kind": "multivariate_drift",
                "dataset": "events",
                "reference": reference,
                "window": "1d",
                "columns": COLUMNS,
            },
            {
                "name": "univariate",
                "kind": "drift",
                "dataset": "events",
                "reference": reference,
                "window": "1d",
                "columns": COLUMNS,
            },
        ],
    }
    path = root / "warden.yaml"
    path.write_text(json.dumps(config))
    return path


def _warden(config: Path, monitor: str, day: int) -> dict:
    at = (DAY0 + timedelta(days=day + 1)).isoformat()
    warden = str(Path(sys.executable).with_name("warden"))
    seconds, rss, stdout = _rusage_run(
        [warden, "scan", "--config", str(config), "--monitor", monitor, "--at", at, "--json"]
    )
    report = json.loads(stdout.splitlines()[0])
    findings = report["findings"]
    return {
        "seconds": seconds,
        "rss_mb": rss,
        "status": report["status"],
        "alerts": sum(f["alert"] for f in findings),
        "statistic": findings[0]["statistic"] if findings else None,
    }


def _rusage_run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run `command` and read its own peak RSS from the kernel (wait4), not the parent's."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 3):
            raise RuntimeError(f"{command[0]} exited {code}: {err.read()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


NANNYML = """
import json, os, sys, time
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
started = time.perf_counter()
import nannyml as nml
import pandas as pd
root, chunk = sys.argv[1], int(sys.argv[2])
columns = ["x0", "x1", "x2", "x3", "x4", "x5", "segment"]
reference = pd.read_parquet(f"{root}/events/reference")
calculator = nml.DataReconstructionDriftCalculator(column_names=columns, chunk_size=chunk)
calculator.fit(reference)
out = {}
for day in ("clean", "drifted"):
    analysis = pd.read_parquet(f"{root}/events/{day}")
    result = calculator.calculate(analysis).filter(period="analysis").to_df(multilevel=False)
    out[day] = {"chunks": len(result), "alerts": int(result["reconstruction_error_alert"].sum()),
                "statistic": float(result["reconstruction_error_value"].mean())}
    del analysis
out["seconds_in_process"] = time.perf_counter() - started
print(json.dumps(out))
"""


def _nannyml(python: str, root: Path, chunk: int) -> dict:
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    seconds, rss, stdout = _rusage_run([python, "-c", NANNYML, str(root), str(chunk)], env)
    return {"seconds": seconds, "rss_mb": rss, **json.loads(stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per day")
    parser.add_argument("--files", type=int, default=10, help="Parquet files per day")
    parser.add_argument("--chunk", type=int, default=100_000, help="NannyML chunk size")
    parser.add_argument("--nannyml-python", help="a Python with nannyml installed")
    parser.add_argument("--write", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_data(Path(args.write), args.rows, args.files)
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"writing 3 days x {args.rows:,} rows ...", file=sys.stderr)
        # In a child process: a forked worker's ru_maxrss starts at its parent's RSS, so
        # this process must stay small (stdlib only) for the peaks measured to be the
        # workers' own.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--write",
                str(root),
                "--rows",
                str(args.rows),
                "--files",
                str(args.files),
            ],
            check=True,
        )
        config = write_config(root)
        runs = {
            "warden pca, clean day, first scan (fit)": _warden(config, "multivariate", 1),
            "warden pca, clean day, cached model": _warden(config, "multivariate", 1),
            "warden pca, drifted day": _warden(config, "multivariate", 2),
            "warden univariate drift, drifted day (first)": _warden(config, "univariate", 2),
            "warden univariate drift, drifted day (cached)": _warden(config, "univariate", 2),
        }
        if args.nannyml_python:
            runs["nannyml reconstruction (fit + clean + drifted)"] = _nannyml(
                args.nannyml_python, root, args.chunk
            )
        print(f"rows per day: {args.rows:,}")
        for name, run in runs.items():
            rest = {k: v for k, v in run.items() if k not in ("seconds", "rss_mb")}
            print(f"{name:52s} {run['seconds']:7.2f} s {run['rss_mb']:7.0f} MB  {rest}")
        if args.nannyml_python:
            ours = (
                runs["warden pca, clean day, first scan (fit)"]["seconds"]
                + runs["warden pca, drifted day"]["seconds"]
            )
            theirs = runs["nannyml reconstruction (fit + clean + drifted)"]["seconds"]
            print(f"time ratio nannyml / warden (fit + two days): {theirs / ours:.2f}")


if __name__ == "__main__":
    main()

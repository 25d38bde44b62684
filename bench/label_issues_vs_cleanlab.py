"""`relabel_batch` with `label_issues` against cleanlab's `find_label_issues`, same data.

Seeded data with known label noise: N rows, three classes, a model's class probabilities
(the true class favoured), and a share of the given labels flipped to another class at
random. Each tool runs in its own fresh process:

- Warden: the playbook's plan over a Parquet file (DuckDB), `batch_size` at its maximum
  (10,000), so the plan lists every candidate up to that bound;
- cleanlab: `find_label_issues(labels, pred_probs)` with its defaults, on arrays read from
  the same file.

Printed: candidates, precision and recall against the known flips, plan or call time, the
whole process's wall time and peak RSS.

    python bench/label_issues_vs_cleanlab.py --rows 20000 50000 --flip 0.1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from drift_vs_evidently import own_peak_rss_mb

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)
CLASSES = ("a", "b", "c")
MAX_BATCH = 10_000


def write_data(folder: Path, rows: int, flip: float) -> Path:
    """`noisy.parquet`: id, timestamp, given label, p_a, p_b, p_c and `flipped` (the truth
    about the noise, read only to score the tools)."""
    target = folder / f"noisy-{rows}-{flip}.parquet"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    truth = rng.integers(0, 3, rows)
    logits = rng.normal(0, 1, (rows, 3))
    logits[np.arange(rows), truth] += 2.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = rng.random(rows) < flip
    given = np.where(flipped, (truth + rng.integers(1, 3, rows)) % 3, truth)
    seconds = np.sort(rng.integers(0, 86_400 * 1_000_000, rows))
    table = pa.table(
        {
            "id": np.arange(rows),
            "timestamp": pa.array(
                np.datetime64(DAY0.replace(tzinfo=None), "us") + seconds.astype("timedelta64[us]")
            ),
            "label": np.array(CLASSES)[given],
            **{f"p_{name}": probabilities[:, i] for i, name in enumerate(CLASSES)},
            "flipped": flipped,
        }
    )
    pq.write_table(table, target)
    return target


def warden_worker(path: str, work_root: str) -> dict:
    from daemon.config.models import WardenConfig
    from daemon.remediation.proposals import playbook_context
    from playbooks.base import IncidentView
    from playbooks.registry import get_playbook

    config = WardenConfig.model_validate(
        {
            "datasets": {
                "noisy": {
                    "format": "parquet",
                    "path": path,
                    "time_column": "timestamp",
                    "roles": {"label": "label"},
                }
            },
            "playbooks": {"work_root": work_root},
        }
    )
    playbook = get_playbook("relabel_batch")
    params = playbook.parse_params(
        {
            "strategy": "label_issues",
            "probability_columns": [f"p_{name}" for name in CLASSES],
            "class_values": list(CLASSES),
            "id_column": "id",
            "batch_size": MAX_BATCH,
        }
    )
    window = {
        "dataset": "noisy",
        "start": DAY0.isoformat(),
        "end": (DAY0 + timedelta(days=1)).isoformat(),
    }
    incident = IncidentView(1, "noisy", "label_drift", windows={"current": window})
    started = time.perf_counter()
    plan = playbook.plan(incident, params, playbook_context(config, "noisy"))
    seconds = time.perf_counter() - started
    chosen = [int(row_id) for row_id in plan.steps[0].details["row_ids"]]
    return {"seconds": seconds, "chosen": chosen}


def cleanlab_worker(path: str) -> dict:
    from cleanlab.filter import find_label_issues

    frame = pq.read_table(path).to_pandas()
    labels = frame["label"].map({name: i for i, name in enumerate(CLASSES)}).to_numpy()
    probabilities = frame[[f"p_{name}" for name in CLASSES]].to_numpy()
    started = time.perf_counter()
    issues = find_label_issues(labels, probabilities)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "chosen": [int(i) for i in frame["id"].to_numpy()[issues]]}


def run(tool: str, args: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", tool, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{done.stderr[-3000:]}")
    return {"wall": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[20_000])
    parser.add_argument("--flip", type=float, default=0.1, help="share of labels flipped")
    parser.add_argument("--out", type=Path, default=Path("bench/out/label_issues"))
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, *rest = args.worker
        result = warden_worker(*rest) if tool == "warden" else cleanlab_worker(*rest)
        print(json.dumps({**result, "peak_rss_mb": own_peak_rss_mb()}))
        return
    print("rows     tool       candidates  precision  recall   call s  process s  peak RSS MB")
    for rows in args.rows:
        path = write_data(args.out.resolve(), rows, args.flip)
        flips = set(np.flatnonzero(pq.read_table(path, columns=["flipped"])["flipped"].to_numpy()))
        for tool, extra in (("warden", [str(args.out.resolve() / "work")]), ("cleanlab", [])):
            result = run(tool, [str(path), *extra])
            chosen = set(result["chosen"])
            found = len(chosen & flips)
            print(
                f"{rows:<8,} {tool:<10} {len(chosen):>10,} {found / max(1, len(chosen)):>10.3f} "
                f"{found / max(1, len(flips)):>7.3f} {result['seconds']:>8.2f} "
                f"{result['wall']:>10.2f} {result['peak_rss_mb']:>12.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

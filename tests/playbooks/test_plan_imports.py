"""Planning a relabel batch loads no data frame library: every strategy's queries come back
as tuples (`playbooks.engine_query`), and importing the playbooks does not import the
synthetic backfill's pandas. pandas alone took a third of a second of the first alert."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DAY = datetime(2025, 3, 1, tzinfo=UTC)

PLAN_IN_A_FRESH_PROCESS = """
import json, sys
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlaybookContext
from playbooks.registry import get_playbook

folder, work, day = Path(sys.argv[1]), Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
config = DatasetConfig(format="parquet", path=str(folder), time_column="ts")
location = DatasetLocation("pets", "parquet", str(folder), "ts", label_column="label")
context = PlaybookContext(location, work, open_source=partial(open_dataset, "pets", config))
windows = {
    "current": {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
    "reference": {"start": (day - timedelta(days=1)).isoformat(), "end": day.isoformat()},
}
incident = IncidentView(5, "pets", "feature_drift", columns=("x", "kind"), windows=windows)
playbook = get_playbook("relabel_batch")
chosen = {}
for params in (
    {"strategy": "drift_density"},
    {"strategy": "uncertainty", "probability_columns": ["p_a", "p_b"]},
    {"strategy": "stratified"},
    {"strategy": "stratified", "stratify_by": "kind"},
    {"strategy": "label_issues", "probability_columns": ["p_a", "p_b"], "class_values": ["a", "b"]},
):
    plan = playbook.plan(incident, playbook.Params.model_validate(params), context)
    chosen[json.dumps(params)] = len(plan.steps[0].details["row_ids"])
print(json.dumps({"chosen": chosen, "pandas": "pandas" in sys.modules}))
"""


def _write(folder: Path) -> None:
    rows = 400
    times = [DAY - timedelta(days=1) + timedelta(minutes=7 * i) for i in range(rows)]
    p_a = [((i * 37) % 100) / 100 for i in range(rows)]
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(times, pa.timestamp("us", "UTC")),
                "x": [float(i % 17) + (5.0 if i >= rows // 2 else 0.0) for i in range(rows)],
                "kind": ["a" if i % 3 else "b" for i in range(rows)],
                "label": ["a" if i % 2 else "b" for i in range(rows)],
                "p_a": p_a,
                "p_b": [1 - p for p in p_a],
            }
        ),
        folder / "part-0.parquet",
    )


def test_planning_every_relabel_strategy_loads_no_pandas(tmp_path: Path):
    folder = tmp_path / "data"
    _write(folder)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAN_IN_A_FRESH_PROCESS,
            str(folder),
            str(tmp_path / "work"),
            DAY.isoformat(),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Every strategy planned a batch (the process did the work it is tested for)...
    assert len(result["chosen"]) == 5 and all(count > 0 for count in result["chosen"].values())
    # ...and none of it needed a data frame.
    assert result["pandas"] is False

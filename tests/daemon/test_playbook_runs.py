"""The two playbooks that do not fix the data themselves, end to end through the daemon:
a scan opens and routes the incident, a run is proposed with its plan, a person approves,
the executor applies it in a worker process, the playbook's own check verifies it, and the
incident goes back to a person (acknowledged), not resolved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.remediation.approvals import decide
from daemon.remediation.executor import execute_approved
from daemon.scan import sync_monitors
from daemon.store.audit import verify_audit_chain
from daemon.store.models import AuditEvent, Incident, PlaybookRun
from tests.remediation_world import scan_then_plan

DAY = datetime(2025, 3, 1, tzinfo=UTC)


def _write(folder: Path, *, skip_day: int | None = None, new_category_day: int | None = None):
    rng = np.random.default_rng(0)
    for day in range(10):
        if day == skip_day:
            continue
        start = DAY + timedelta(days=day)
        regions = rng.choice(["A", "B"], 96).tolist()
        if day == new_category_day:
            regions = ["ZZ" if i % 3 == 0 else r for i, r in enumerate(regions)]
        target = folder / f"date={start.date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "ts": pa.array(
                        [start + timedelta(minutes=15 * i) for i in range(96)],
                        pa.timestamp("us", "UTC"),
                    ),
                    "amount": rng.normal(100, 10, 96),
                    "region": regions,
                }
            ),
            target,
        )


def _config(store, tmp_path: Path, monitor: dict, route: dict) -> WardenConfig:
    config = WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "monitors": [{"name": "m", "dataset": "events", **monitor}],
            "routes": [{"name": "r", "approval": "human", **route}],
            "playbooks": {"work_root": str(tmp_path / "work")},
        }
    )
    sync_monitors(store, config)
    return config


def _approve_and_execute(store, config, pattern: str) -> tuple[PlaybookRun, Incident, str]:
    """Approve and execute the run proposed for the `pattern` incident."""
    with store.session(readonly=True) as session:
        (run,) = session.exec(
            select(PlaybookRun)
            .join(Incident, Incident.id == PlaybookRun.incident_id)
            .where(Incident.pattern == pattern)
        ).all()
    with store.session() as session:
        decide(session, config, run.id, "approve", actor="alice", via="cli")
    (outcome,) = execute_approved(store, config, identity="replica-1")
    assert outcome.status == "succeeded", outcome.message
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run.id)
        incident = session.get(Incident, run.incident_id)
        assert verify_audit_chain(session).ok
        reasons = [
            (event.payload or {}).get("reason", "")
            for event in session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
            if event.action == "incident.acknowledged"
        ]
    assert incident.status == "acknowledged"
    assert any("resolve the incident when the follow-up is complete" in r for r in reasons)
    with store.session(readonly=True) as session:
        (finished,) = [
            event
            for event in session.exec(select(AuditEvent)).all()
            if event.action == "run.succeeded"
        ]
    assert finished.payload["steps"] == run.step_log and run.step_log  # every step audited
    return run, incident, outcome.message


def test_a_missing_day_is_backfilled_with_a_marked_synthetic_partition(store, tmp_path):
    _write(tmp_path / "data", skip_day=7)
    config = _config(
        store,
        tmp_path,
        {"kind": "freshness", "max_lag": "2d", "expected_every": "1d", "volume_history": 0},
        {
            "match": {"pattern": "missing_partition"},
            "playbook": "synthetic_backfill",
            "params": {"seed": 4, "max_synthetic_share": 0.2},
        },
    )
    report = scan_then_plan(config, config.monitors[0], DAY + timedelta(days=10), store)
    assert report is not None and report.status == "alert", report
    run, incident, verified = _approve_and_execute(store, config, "missing_partition")
    assert incident.scope == {"partition": (DAY + timedelta(days=7)).isoformat()}
    target = Path(run.plan["steps"][0]["target"])
    generated = pq.read_table(target).to_pandas()
    # The usual day holds 96 rows, well under the 20% cap of the 9 real days (864 rows).
    assert len(generated) == 96 and generated["is_synthetic"].all()
    assert set(generated["synthetic_incident_id"]) == {incident.id}
    assert verified.endswith("no column drifts from the reference")
    assert not list((tmp_path / "data").rglob("*synthetic*"))  # the dataset is untouched


def test_an_emerged_category_gets_a_label_batch_of_its_rows(store, tmp_path):
    _write(tmp_path / "data", new_category_day=9)
    config = _config(
        store,
        tmp_path,
        {
            "kind": "drift",
            "window": "1d",
            "columns": ["region"],
            "reference": {"start": DAY.isoformat(), "end": "2025-03-08"},
        },
        {
            "match": {"pattern": "category_emergence"},
            "playbook": "relabel_batch",
            "params": {"batch_size": 20, "strategy": "drift_density"},
        },
    )
    report = scan_then_plan(config, config.monitors[0], DAY + timedelta(days=10), store)
    assert report is not None and report.status == "alert", report
    run, _, verified = _approve_and_execute(store, config, "category_emergence")
    assert verified.startswith("20 labelling tasks written to")
    tasks = Path(run.plan["steps"][1]["target"]).read_text().splitlines()
    assert len(tasks) == 20
    assert {json.loads(line)["data"]["region"] for line in tasks} == {"ZZ"}

"""Two `warden scan` processes on one PostgreSQL store, scanning the same failing data at the
same moments, open one incident per problem and count each scan time once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from daemon.store.audit import verify_audit_chain
from daemon.store.models import Incident
from tests.daemon.engine_cases import AT, START, events_table

WARDEN = Path(sys.executable).with_name("warden")


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_scanning_processes_open_one_incident(store, tmp_path: Path):
    pq.write_table(events_table(), tmp_path / "events.parquet")
    config = tmp_path / "warden.yaml"
    config.write_text(
        f"store: {{url: '{store.url.render_as_string(hide_password=False)}'}}\n"
        "datasets:\n"
        f"  events: {{format: parquet, path: '{tmp_path / 'events.parquet'}', "
        "time_column: ts}\n"
        "monitors:\n"
        "  - name: drift\n    kind: drift\n    dataset: events\n    window: 1d\n"
        f"    reference: {{start: '{START.isoformat()}', "
        f"end: '{(START + timedelta(days=7)).isoformat()}'}}\n"
    )
    ticks = [AT + timedelta(hours=hour) for hour in range(3)]
    for tick in ticks:
        both = [
            subprocess.Popen(
                [str(WARDEN), "scan", "-c", str(config), "--at", tick.isoformat(), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        reports = []
        for process in both:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
            reports.append(json.loads(out))
        assert [r["status"] for r in reports] == ["alert", "alert"]
        assert reports[0]["incident_ids"] == reports[1]["incident_ids"]
    with store.session(readonly=True) as session:
        incidents = session.exec(select(Incident)).all()
        # The data has two problems (a drifted amount, a new category): one incident each.
        assert sorted(i.pattern for i in incidents) == ["category_emergence", "feature_drift"]
        for incident in incidents:
            assert incident.status == "open" and incident.route is not None
            # Each scan time counted once, not once per process.
            assert incident.occurrences == len(ticks)
        assert verify_audit_chain(session).ok

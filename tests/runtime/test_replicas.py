"""Two `warden run` replicas on one PostgreSQL store for 60+ ticks of a 1-second schedule:
every tick scanned exactly once, with no gap, by one replica or the other; one incident for
the drift they both see, counted once per tick."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from daemon.store.audit import verify_audit_chain
from daemon.store.engine import Store
from daemon.store.models import AuditEvent, Incident
from tests.daemon.engine_cases import START, events_table
from tests.runtime.daemons import kill, scan_runs, start_daemon, stop, wait_for

#: Ticks to wait for; the issue asks for 60 or more.
TICKS = 62


def _recent_events(folder: Path) -> datetime:
    """The seeded events (7 clean days, then a drifted one) moved to end now; returns the
    start of the reference week."""
    table = events_table()
    shift = datetime.now(UTC) - (START + timedelta(days=8))
    moved = pa.array([t + shift for t in table["ts"].to_pylist()], pa.timestamp("us", tz="UTC"))
    pq.write_table(table.set_column(0, "ts", moved), folder / "events.parquet")
    return START + shift


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_replicas_scan_every_tick_exactly_once(store: Store, tmp_path: Path):
    reference_start = _recent_events(tmp_path)
    url = store.url.render_as_string(hide_password=False)
    (tmp_path / "warden.yaml").write_text(
        f"store: {{url: '{url}'}}\n"
        f"datasets:\n  events: {{format: parquet, path: events.parquet, time_column: ts}}\n"
        "monitors:\n"
        "  - name: drift\n    kind: drift\n    dataset: events\n    window: 1d\n"
        "    columns: [amount, kind]\n"
        f"    reference: {{start: '{reference_start.isoformat()}', "
        f"end: '{(reference_start + timedelta(days=7)).isoformat()}'}}\n"
        "    schedule: {every: 1s}\n"
    )
    replicas = [start_daemon(tmp_path, log=f"replica-{n}.log") for n in range(2)]
    try:
        wait_for(
            lambda: len([s for s in scan_runs(url) if s.status != "running"]) >= TICKS,
            TICKS * 3 + 60,
            f"{TICKS} ticks",
            replicas[0],
        )
        statuses = [stop(replica)[0] for replica in replicas]
    finally:
        for replica in replicas:
            kill(replica)
    assert statuses == [0, 0]

    scans = scan_runs(url)
    ticks = sorted(scan.scheduled_for for scan in scans)
    assert len(ticks) >= TICKS and len(set(ticks)) == len(ticks)  # each tick once
    gaps = [b for a, b in pairwise(ticks) if b - a != timedelta(seconds=1)]
    assert gaps == [], f"ticks nobody scanned before {gaps}"
    assert {scan.status for scan in scans} == {"alert"}  # none left running, none failed
    by_replica = Counter(scan.claimed_by for scan in scans)
    assert len(by_replica) == 2, by_replica  # both replicas took part

    with store.session(readonly=True) as session:
        incidents = session.exec(select(Incident)).all()
        assert sorted(i.pattern for i in incidents) == ["category_emergence", "feature_drift"]
        assert all(i.occurrences == len(scans) for i in incidents)
        completed = session.exec(
            select(AuditEvent).where(AuditEvent.action == "scan.completed")
        ).all()
        assert len(completed) == len(scans)
        assert verify_audit_chain(session).ok

"""Missed ticks open a `missed_ticks` incident and resolve it when scans run again; JSON
log lines carry the ids people filter by."""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlmodel import select

from daemon.http.metrics import DaemonMetrics
from daemon.runtime.json_logs import JsonFormatter
from daemon.runtime.missed_ticks import MissedTicks
from daemon.scan.runner import claim_tick
from daemon.store.engine import Store
from daemon.store.models import Incident
from tests.daemon.engine_cases import AT
from tests.runtime.test_reconciler import _config


def _scheduler_incidents(store: Store) -> list[Incident]:
    with store.session(readonly=True) as session:
        return list(
            session.exec(select(Incident).where(Incident.monitor == "scheduler/drift")).all()
        )


def _missed(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value(
        "warden_scheduler_missed_ticks_total", {"monitor": "drift", "reason": reason}
    )


def test_three_missed_ticks_in_a_row_open_an_incident_that_resolves_when_scans_run(
    store: Store, tmp_path: Path
):
    config = _config(tmp_path)  # daemon.missed_ticks_alert defaults to 3
    metrics = DaemonMetrics(store)
    tracker = MissedTicks(store, config, identity="test:1:aaaaaa", metrics=metrics)
    ticks = [AT + timedelta(minutes=minute) for minute in range(10)]
    tracker.missed("drift", ticks[0], "late")
    tracker.missed("drift", ticks[1], "still_running")
    assert tracker.streak("drift") == 2 and _scheduler_incidents(store) == []
    tracker.ran("drift", ticks[2])  # a tick ran: the streak starts over
    tracker.missed("drift", ticks[3], "still_running")
    tracker.missed("drift", ticks[4], "still_running")
    assert _scheduler_incidents(store) == []
    tracker.missed("drift", ticks[5], "failed")
    (incident,) = _scheduler_incidents(store)
    assert (incident.pattern, incident.status, incident.dataset) == (
        "missed_ticks",
        "open",
        "events",
    )
    assert incident.route is not None  # routed like any incident (notify: no playbook)
    assert incident.evidence["findings"][0]["statistic"] == 3.0
    assert incident.evidence["findings"][0]["details"]["reason"] == "failed"
    tracker.missed("drift", ticks[6], "late")
    (incident,) = _scheduler_incidents(store)
    assert incident.occurrences == 2
    assert (_missed(metrics.registry, "late"), _missed(metrics.registry, "still_running")) == (
        2.0,
        3.0,
    )
    assert _missed(metrics.registry, "failed") == 1.0

    # A restarted daemon knows the incident is open, and resolves it after two clean ticks.
    restarted = MissedTicks(store, config, identity="test:2:bbbbbb")
    restarted.ran("drift", ticks[7])
    assert _scheduler_incidents(store)[0].status == "open"
    restarted.ran("drift", ticks[8])
    (resolved,) = _scheduler_incidents(store)
    assert resolved.status == "resolved" and resolved.resolved_at == ticks[8]


def test_a_monitor_not_in_the_config_is_counted_but_opens_nothing(store: Store, tmp_path: Path):
    tracker = MissedTicks(store, _config(tmp_path), identity="test:1:aaaaaa")
    for minute in range(4):
        tracker.missed("gone", AT + timedelta(minutes=minute), "late")
    assert tracker.streak("gone") == 4
    with store.session(readonly=True) as session:
        assert session.exec(select(Incident)).all() == []


def test_json_log_lines_carry_ids_and_exceptions():
    formatter = JsonFormatter(identity="host:1:abcdef")
    record = logging.LogRecord(
        "daemon.runtime.scheduler", logging.WARNING, __file__, 1, "%s: %s", ("a", "b"), None
    )
    record.monitor, record.tick, record.incident_id = "drift", "2025-01-09T00:00:00+00:00", 7
    line = json.loads(formatter.format(record))
    assert {k: v for k, v in line.items() if k != "ts"} == {
        "level": "warning",
        "logger": "daemon.runtime.scheduler",
        "message": "a: b",
        "identity": "host:1:abcdef",
        "monitor": "drift",
        "tick": "2025-01-09T00:00:00+00:00",
        "incident_id": 7,
    }
    assert line["ts"].endswith("+00:00") and "T" in line["ts"]
    try:
        raise ValueError("bad input ü")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    parsed = json.loads(formatter.format(failed))
    assert "ValueError: bad input ü" in parsed["exception"] and "\n" not in formatter.format(failed)


def test_many_monitors_behind_at_once_make_one_overload_incident(store: Store, tmp_path: Path):
    base = _config(tmp_path)
    drift = base.monitors[0].model_dump(mode="json")
    config = base.model_validate(
        {
            **base.model_dump(mode="json", include={"datasets"}),
            "monitors": [{**drift, "name": f"m{n}"} for n in range(8)],
        }
    )
    tracker = MissedTicks(store, config, identity="test:1:aaaaaa")
    ticks = [AT + timedelta(minutes=minute) for minute in range(6)]
    for tick in ticks[:3]:
        for n in range(8):
            tracker.missed(f"m{n}", tick, "late")
    with store.session(readonly=True) as session:
        incidents = session.exec(select(Incident).order_by(Incident.id)).all()
    # The first five behind get their own incident; from the sixth, the daemon is overloaded.
    assert [(i.monitor, i.pattern) for i in incidents] == [
        *((f"scheduler/m{n}", "missed_ticks") for n in range(5)),
        ("scheduler/*", "scheduler_overloaded"),
    ]
    overload = incidents[-1]
    assert (overload.severity, overload.occurrences) == ("critical", 1)  # one tick so far
    assert overload.evidence["findings"][0]["details"]["count"] == 6
    for n in range(8):
        tracker.missed(f"m{n}", ticks[3], "late")  # the next tick: all eight still behind
    with store.session(readonly=True) as session:
        overload = session.get(Incident, overload.id)
        assert overload is not None and overload.occurrences == 2
        assert overload.evidence["findings"][0]["details"]["monitors_behind"] == [
            f"m{n}" for n in range(8)
        ]
        assert len(session.exec(select(Incident)).all()) == 6  # no incident for m5..m7
    for tick in ticks[4:6]:
        for n in range(8):
            tracker.ran(f"m{n}", tick)
    with store.session(readonly=True) as session:
        statuses = {i.monitor: i.status for i in session.exec(select(Incident)).all()}
    assert set(statuses.values()) == {"resolved"} and len(statuses) == 6


def test_a_tick_another_replica_scanned_is_not_missed(store: Store, tmp_path: Path):
    config = _config(tmp_path)
    tracker = MissedTicks(store, config, identity="replica-a:1:aaaaaa")
    ticks = [AT + timedelta(minutes=minute) for minute in range(4)]
    for tick in ticks[:3]:
        assert claim_tick(store, "drift", tick, claimed_by="replica-b:1:bbbbbb", replace=False)
        tracker.missed("drift", tick, "late")  # late here, but replica b had it
    assert tracker.streak("drift") == 0 and _scheduler_incidents(store) == []
    tracker.missed("drift", ticks[3], "late")  # nobody scanned this one
    assert tracker.streak("drift") == 1

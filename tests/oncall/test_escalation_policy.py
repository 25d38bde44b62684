"""Escalation policies on the store, on every backend: steps advance on a stepped clock and
stop at an acknowledgement, `until: resolved` steps and reminders go on while acknowledged,
a silence holds the clock, two replicas fire each step once, and one scan's incidents share
one group."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.incidents.escalation_runner import fire_due
from daemon.incidents.lifecycle import change_status
from daemon.incidents.silences import add_silence
from daemon.reporting.queries import get_incident
from daemon.store.engine import open_store
from daemon.store.models import AuditEvent, IncidentStatus
from daemon.store.oncall_models import EscalationFiring, IncidentGroup
from daemon.store.types import utcnow
from detectors.results import Finding
from tests.oncall.world import scan

MINUTE = timedelta(minutes=1)
KEY = "R0UTINGKEY0000000000000000000042"
STEPS = [
    {"after": "0m", "page": "pagerduty"},
    {"after": "15m", "notify": "C0LEADS", "mention": "S0614TZR7"},
    {"after": "30m", "mention": "S0614TZR7"},
]
NULLS = Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True)
DRIFT = Finding("feature_drift", "region", "jensen_shannon", 0.3, 0.1, True)


def _config(steps=STEPS, remind_every: str | None = None) -> WardenConfig:
    policy: dict = {"name": "default", "match": {"severity": ["critical", "warning"]}}
    policy["steps"] = steps
    if remind_every:
        policy["remind_every"] = remind_every
    return WardenConfig.model_validate(
        {
            "slack": {"bot_token": "xoxb-test", "channel": "C0ONCALL"},
            "pagerduty": {"routing_key": KEY},
            "escalations": [policy],
        }
    )


def _firings(store) -> list[tuple[int, int, str]]:
    with store.session(readonly=True) as session:
        rows = session.exec(select(EscalationFiring).order_by(col(EscalationFiring.id))).all()
        return [(row.step, row.reminder, row.action) for row in rows]


def _fired_events(store) -> list[dict]:
    with store.session(readonly=True) as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "escalation.step_fired")
            .order_by(col(AuditEvent.seq))
        ).all()
        return [event.payload for event in events]


def _change(store, incident_id: int, to: IncidentStatus, at: datetime, reason: str | None = None):
    with store.session() as session:
        change_status(session, incident_id, to, actor="U0ALICE", reason=reason, at=at)


def test_three_steps_advance_on_the_clock_and_an_ack_stops_them(store):
    config, t0 = _config(), utcnow()
    (incident_id,) = scan(store, config, [NULLS], t0).opened
    assert [f.step for f in fire_due(store, config, identity="a", now=t0)] == [0]
    assert fire_due(store, config, identity="a", now=t0 + 14 * MINUTE) == []
    assert [f.action for f in fire_due(store, config, identity="a", now=t0 + 16 * MINUTE)] == [
        "notify"
    ]
    _change(store, incident_id, IncidentStatus.acknowledged, t0 + 20 * MINUTE)
    assert fire_due(store, config, identity="a", now=t0 + 31 * MINUTE) == []
    assert fire_due(store, config, identity="a", now=t0 + 5 * 60 * MINUTE) == []
    assert _firings(store) == [(0, 0, "page"), (1, 0, "notify")]
    events = _fired_events(store)
    assert [(e["step"], e["action"], e["channel"], e["mention"]) for e in events] == [
        (0, "page", None, None),
        (1, "notify", "C0LEADS", "S0614TZR7"),
    ]
    with store.session(readonly=True) as session:
        (group,) = session.exec(select(IncidentGroup)).all()
        assert (group.status, group.policy) == ("acknowledged", "default")
    # Queryable after the incident: its timeline holds its group's steps.
    _, timeline = get_incident(store, incident_id)
    assert [e.action for e in timeline if e.entity_type == "incident_group"] == [
        "group.opened",
        "escalation.step_fired",
        "escalation.step_fired",
        "group.acknowledged",
    ]


def test_until_resolved_steps_and_one_reminder_after_downtime(store):
    steps = [
        {"after": "0m", "page": "pagerduty"},
        {"after": "1h", "mention": "S0614TZR7", "until": "resolved"},
    ]
    config, t0 = _config(steps, remind_every="4h"), utcnow()
    (incident_id,) = scan(store, config, [NULLS], t0).opened
    fire_due(store, config, identity="a", now=t0)
    _change(store, incident_id, IncidentStatus.acknowledged, t0 + 10 * MINUTE)
    # Acknowledged: the `until: resolved` step still fires at 1h.
    assert [f.step for f in fire_due(store, config, identity="a", now=t0 + 61 * MINUTE)] == [1]
    # Down for 13 hours after acknowledging: one reminder (the third), not three.
    late = t0 + 10 * MINUTE + 13 * 60 * MINUTE
    assert [(f.action, f.reminder) for f in fire_due(store, config, identity="a", now=late)] == [
        ("remind", 3)
    ]
    assert fire_due(store, config, identity="a", now=late + MINUTE) == []
    _change(store, incident_id, IncidentStatus.resolved, late + 2 * MINUTE)
    assert fire_due(store, config, identity="a", now=late + 20 * 60 * MINUTE) == []
    with store.session(readonly=True) as session:
        (group,) = session.exec(select(IncidentGroup)).all()
        assert group.status == "closed" and not group.accepting
        closed = session.exec(select(AuditEvent).where(AuditEvent.action == "group.closed")).all()
        assert len(closed) == 1


def test_a_silence_holds_the_clock_and_its_end_resumes_it(store):
    config, t0 = _config(), utcnow()
    scan(store, config, [NULLS], t0)
    fire_due(store, config, identity="a", now=t0)  # the page
    with store.session() as session:
        add_silence(
            session,
            created_by="U0ALICE",
            reason="backfill running",
            starts_at=t0 + 5 * MINUTE,
            ends_at=t0 + 65 * MINUTE,
            dataset="loans",
        )
    assert fire_due(store, config, identity="a", now=t0 + 6 * MINUTE) == []  # held from here
    assert fire_due(store, config, identity="a", now=t0 + 40 * MINUTE) == []  # would be 2 steps
    # Resumed at 66m with 6m counted (60m held): step 1 is due at 15m counted = 75m.
    assert fire_due(store, config, identity="a", now=t0 + 66 * MINUTE) == []
    assert fire_due(store, config, identity="a", now=t0 + 74 * MINUTE) == []
    assert [f.step for f in fire_due(store, config, identity="a", now=t0 + 76 * MINUTE)] == [1]
    with store.session(readonly=True) as session:
        actions = [
            e.action
            for e in session.exec(
                select(AuditEvent).where(
                    col(AuditEvent.action).in_(["group.held", "group.resumed"])
                )
            ).all()
        ]
    assert actions == ["group.held", "group.resumed"]


def test_two_replicas_fire_each_step_once(store_url):
    """Two daemons on one database run the job at the same instants, concurrently."""
    first, second = open_store(store_url), open_store(store_url)
    try:
        config, t0 = _config(), utcnow()
        scan(first, config, [NULLS], t0)
        moments = [t0, t0 + 16 * MINUTE, t0 + 31 * MINUTE, t0 + 32 * MINUTE]
        barrier = threading.Barrier(2)
        fired: dict[str, list] = {"a": [], "b": []}
        errors: list[BaseException] = []

        def replica(name: str, store) -> None:
            try:
                for moment in moments:
                    barrier.wait(timeout=60)
                    fired[name].extend(fire_due(store, config, identity=name, now=moment))
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [
            threading.Thread(target=replica, args=("a", first)),
            threading.Thread(target=replica, args=("b", second)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert sorted(f.step for f in fired["a"] + fired["b"]) == [0, 1, 2]
        assert _firings(first) == [(0, 0, "page"), (1, 0, "notify"), (2, 0, "mention")]
        assert len(_fired_events(first)) == 3
    finally:
        first.close()
        second.close()


def test_one_scan_opening_five_incidents_makes_one_group(store):
    config, t0 = _config(), utcnow()
    findings = [
        NULLS,
        DRIFT,
        Finding("out_of_range", "age", "max", 300, 120, True),
        Finding("category_emergence", "state", "new_share", 0.2, 0.01, True),
        Finding("volume_drop", None, "row_count", 10, 1000, True),
    ]
    outcome = scan(store, config, findings, t0)
    assert len(outcome.opened) == 5
    assert list(outcome.grouped.values()) == [outcome.opened]
    # Another monitor of the dataset at the same scan time joins it; a later scan does not.
    later = scan(store, config, [NULLS], t0, monitor="other")
    assert list(later.grouped) == list(outcome.grouped)
    next_day = scan(store, config, [DRIFT], t0 + timedelta(days=1), monitor="third")
    assert list(next_day.grouped) != list(outcome.grouped)
    # One page for the group, not five.
    assert [f.action for f in fire_due(store, config, identity="a", now=t0)] == ["page", "page"]
    with store.session(readonly=True) as session:
        groups = session.exec(select(IncidentGroup).order_by(col(IncidentGroup.id))).all()
        assert [g.accepting for g in groups] == [False, True]

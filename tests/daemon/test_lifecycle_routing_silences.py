"""After detection, on every store backend: routing from the config (first match wins,
deterministic), silences and maintenance windows with scripted time, the lifecycle that
people drive, and the configurable auto-resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.incidents.lifecycle import TransitionRefused, change_status
from daemon.incidents.routing import IncidentFacts, RouteDecision, route
from daemon.incidents.silences import SilenceProblem, add_silence, expire_silence
from daemon.store.audit import verify_audit_chain
from daemon.store.models import AuditEvent, Incident, IncidentStatus
from detectors.results import DetectorResult, Finding

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NULLS = Finding("null_spike", "income", "binomial", 0.3, 0.05, True)
DRIFT = Finding("feature_drift", "salary", "wasserstein", 0.8, 0.1, True)
CLEAN = DetectorResult.from_findings([])


def _config(**sections) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {
                "loans": {"format": "parquet", "path": "x.parquet", "time_column": "ts"},
                "fraud": {"format": "parquet", "path": "y.parquet", "time_column": "ts"},
            },
            **sections,
        }
    )


def _scan(store, finding: Finding | None, hour: int, policy: IncidentPolicy, dataset="loans"):
    result = DetectorResult.from_findings([finding] if finding else [])
    with store.session() as session:
        return observe(
            session,
            monitor=f"{dataset}-monitor",
            dataset=dataset,
            severity="warning",
            result=result,
            windows={},
            at=T0 + timedelta(hours=hour),
            policy=policy,
        )


def _incident(store, incident_id: int) -> Incident:
    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident


def _actions(store, incident_id: int) -> list[str]:
    with store.session(readonly=True) as session:
        return [
            event.action
            for event in session.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_id == str(incident_id))
                .where(AuditEvent.entity_type == "incident")
                .order_by(col(AuditEvent.seq))
            ).all()
        ]


# --- routing ---------------------------------------------------------------------------------


ROUTES = [
    {
        "name": "fraud-nulls",
        "match": {"dataset": "fraud", "pattern": ["null_spike", "out_of_range"]},
        "playbook": "quarantine",
        "approval": "two_person",
        "channel": "#fraud",
    },
    {"match": {"column": "salary"}, "playbook": "relabel_batch", "params": {"batch_size": 50}},
    {"match": {"severity": "info"}, "playbook": None},
]


def test_first_matching_route_wins_then_defaults_and_it_is_deterministic():
    config = _config(routes=ROUTES, slack={"bot_token": "xoxb-test", "channel": "#ml-oncall"})
    policy = IncidentPolicy.from_config(config)

    def decide(dataset, pattern, severity="warning", columns=()):
        facts = IncidentFacts("m", dataset, pattern, severity, tuple(columns))
        return route(facts, policy.routes, policy.default_channel)

    fraud = decide("fraud", "null_spike", columns=["salary"])
    assert (fraud.rule, fraud.playbook, fraud.approval, fraud.channel) == (
        "fraud-nulls",
        "quarantine",
        "two_person",
        "#fraud",
    )
    by_column = decide("loans", "feature_drift", columns=["region", "salary"])
    assert (by_column.rule, by_column.playbook, by_column.params) == (
        "routes[1]",
        "relabel_batch",
        {"batch_size": 50},
    )
    assert by_column.channel == "#ml-oncall"  # no channel on the route: slack.channel
    info = decide("loans", "volume_drop", severity="info")
    assert (info.rule, info.playbook) == ("routes[2]", None)
    default = decide("loans", "missing_partition")
    assert (default.rule, default.playbook, default.approval) == (
        "default",
        "synthetic_backfill",
        "human",
    )
    unknown = decide("loans", "a_pattern_no_rule_knows")
    assert (unknown.rule, unknown.playbook) == ("none", None)
    # The same incident and config always give the same decision.
    assert all(decide("fraud", "null_spike", columns=["salary"]) == fraud for _ in range(5))
    # Stored as JSON on the incident and read back unchanged.
    assert RouteDecision.from_dict(fraud.to_dict()) == fraud


def test_opening_an_incident_stores_and_audits_its_route(store):
    policy = IncidentPolicy.from_config(_config(routes=ROUTES))
    opened = _scan(store, NULLS, 0, policy, dataset="fraud").opened[0]
    incident = _incident(store, opened)
    assert incident.route is not None and incident.route["rule"] == "fraud-nulls"
    assert _actions(store, opened) == ["incident.opened", "incident.routed"]
    _scan(store, NULLS, 1, policy, dataset="fraud")  # an update does not route again
    assert _actions(store, opened) == ["incident.opened", "incident.routed", "incident.updated"]


def test_route_config_errors_name_the_place():
    with pytest.raises(ValueError, match=r"routes\[0\]\.match\.dataset: unknown dataset"):
        _config(routes=[{"match": {"dataset": "lonas"}, "playbook": "quarantine"}])
    with pytest.raises(ValueError, match="unknown pattern"):
        _config(routes=[{"match": {"pattern": "nul_spike"}, "playbook": "quarantine"}])
    with pytest.raises(ValueError, match="`params` needs a `playbook`"):
        _config(routes=[{"playbook": None, "params": {"x": 1}}])


# --- silences and maintenance windows (scripted time) ----------------------------------------


def test_maintenance_window_records_but_does_not_route_until_it_ends(store):
    window = {
        "name": "warehouse-migration",
        "match": {"dataset": "loans"},
        "start": (T0 + timedelta(hours=1)).isoformat(),
        "end": (T0 + timedelta(hours=3)).isoformat(),
    }
    policy = IncidentPolicy.from_config(_config(maintenance=[window]))
    assert _scan(store, NULLS, 0, policy).opened  # before the window: routed
    first = _incidents_by_pattern(store, "null_spike")[0]
    assert first.route is not None and first.silenced_by is None

    opened = _scan(store, DRIFT, 1, policy).opened[0]  # inside: recorded, not routed
    silenced = _incident(store, opened)
    assert silenced.route is None and silenced.silenced_by == "maintenance:warehouse-migration"
    _scan(store, DRIFT, 2, policy)
    assert _incident(store, opened).occurrences == 2 and _incident(store, opened).route is None
    assert _scan(store, DRIFT, 3, policy).updated == [opened]  # the end is exclusive
    after = _incident(store, opened)
    assert after.silenced_by is None and after.route is not None
    assert _actions(store, opened) == [
        "incident.opened",
        "incident.silenced",
        "incident.updated",
        "incident.updated",
        "incident.routed",
    ]
    # Another dataset is not in the window.
    other = _scan(store, DRIFT, 2, policy, dataset="fraud").opened[0]
    assert _incident(store, other).route is not None


def test_silence_from_the_store_matches_on_pattern_and_can_be_expired(store):
    policy = IncidentPolicy()
    with store.session() as session:
        silence = add_silence(
            session,
            created_by="alice",
            reason="known upstream outage",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=24),
            pattern="null_spike",
        )
        silence_id = silence.id
    nulls = _scan(store, NULLS, 1, policy).opened[0]
    drift = _scan(store, DRIFT, 1, policy).opened[0]
    assert _incident(store, nulls).silenced_by == f"silence:{silence_id}"
    assert _incident(store, drift).silenced_by is None  # another pattern
    with store.session() as session:
        expire_silence(session, silence_id or 0, actor="bob", at=T0 + timedelta(hours=5))
    _scan(store, NULLS, 4, policy)  # before the expiry: still silenced
    assert _incident(store, nulls).route is None
    _scan(store, NULLS, 6, policy)
    assert _incident(store, nulls).route is not None
    with store.session() as session, pytest.raises(SilenceProblem, match="already ended"):
        expire_silence(session, silence_id or 0, actor="bob", at=T0 + timedelta(hours=7))
    with store.session() as session, pytest.raises(SilenceProblem, match="--reason"):
        add_silence(
            session, created_by="a", reason=" ", starts_at=T0, ends_at=T0 + timedelta(hours=1)
        )
    with store.session(readonly=True) as session:
        assert verify_audit_chain(session).ok


def _incidents_by_pattern(store, pattern: str) -> list[Incident]:
    with store.session(readonly=True) as session:
        return list(
            session.exec(
                select(Incident).where(Incident.pattern == pattern).order_by(col(Incident.id))
            ).all()
        )


# --- lifecycle -------------------------------------------------------------------------------


def test_people_move_an_incident_through_its_lifecycle(store):
    opened = _scan(store, NULLS, 0, IncidentPolicy()).opened[0]
    ack_time = T0 + timedelta(minutes=30)
    with store.session() as session:
        change_status(session, opened, IncidentStatus.acknowledged, actor="alice", at=ack_time)
    with store.session() as session, pytest.raises(TransitionRefused, match="is acknowledged"):
        change_status(session, opened, IncidentStatus.acknowledged, actor="bob")
    with store.session() as session:
        change_status(session, opened, IncidentStatus.remediating, actor="runner")
        change_status(session, opened, IncidentStatus.resolved, actor="runner", reason="verified")
    incident = _incident(store, opened)
    assert incident.status == "resolved" and incident.acknowledged_at == ack_time
    with store.session() as session, pytest.raises(TransitionRefused, match="it is final"):
        change_status(session, opened, IncidentStatus.closed, actor="bob", reason="late")
    assert _actions(store, opened)[-3:] == [
        "incident.acknowledged",
        "incident.remediating",
        "incident.resolved",
    ]


def test_closing_needs_a_reason_and_can_count_a_false_alarm(store):
    opened = _scan(store, DRIFT, 0, IncidentPolicy()).opened[0]
    with store.session() as session, pytest.raises(TransitionRefused, match="needs a reason"):
        change_status(session, opened, IncidentStatus.closed, actor="alice")
    with store.session() as session, pytest.raises(TransitionRefused, match="only closing"):
        change_status(session, opened, IncidentStatus.resolved, actor="a", false_alarm=True)
    with store.session() as session:
        change_status(
            session,
            opened,
            IncidentStatus.closed,
            actor="alice",
            reason="seasonal campaign",
            false_alarm=True,
        )
    incident = _incident(store, opened)
    assert incident.false_alarm and incident.closed_reason == "seasonal campaign"
    # Found again after closing: a new incident, linked to the closed one.
    reopened = _scan(store, DRIFT, 5, IncidentPolicy()).opened[0]
    assert _incident(store, reopened).previous_incident_id == opened
    with store.session() as session, pytest.raises(TransitionRefused, match="no incident 999"):
        change_status(session, 999, IncidentStatus.acknowledged, actor="a")


def test_auto_resolve_after_is_configurable(store):
    policy = IncidentPolicy.from_config(_config(incidents={"auto_resolve_after": 3}))
    opened = _scan(store, DRIFT, 0, policy).opened[0]
    assert not _scan(store, None, 1, policy).resolved
    assert not _scan(store, None, 2, policy).resolved
    assert _scan(store, None, 3, policy).resolved == [opened]
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        _config(incidents={"auto_resolve_after": 0})

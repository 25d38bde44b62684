"""Every record round-trips unchanged, and the uniqueness rules hold, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from daemon.store.asset_models import AssetRecord
from daemon.store.engine import Store
from daemon.store.lineage_models import LineageEvent, LineageInput, LineageRun
from daemon.store.metric_models import MetricPoint
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    ALL_TABLES,
    AgentThread,
    ApiToken,
    Approval,
    AuditEvent,
    CompiledQueryPlan,
    DaemonInstance,
    Incident,
    IncidentStatus,
    Monitor,
    OutboxMessage,
    PlaybookRun,
    ProposalRequest,
    ReferenceProfile,
    ReportLinkKey,
    ScanRun,
    Silence,
    SlackInteraction,
    StoreIdentity,
)
from daemon.store.oncall_models import EscalationFiring, IncidentGroup
from daemon.store.version_models import DatasetVersionRecord

NEW_YORK = timezone(timedelta(hours=-5))
#: Aware but not UTC, with microseconds: must come back as the same instant, in UTC.
AWARE = datetime(2025, 3, 9, 7, 30, 15, 123456, tzinfo=NEW_YORK)
#: Naive: taken to be UTC.
NAIVE = datetime(2025, 3, 9, 12, 0, 0, 654321)

#: Nested, mixed JSON: unicode, floats, big integers, nulls, booleans, empty containers.
DOCUMENT: dict[str, Any] = {
    "columns": ["amount", "país", "名前"],
    "psi": 0.123456789012345,
    "tiny": 1e-300,
    "count": 2**53 + 1,
    "negative": -7,
    "nested": {"ok": True, "missing": None, "empty": {}, "list": [], "bins": [0.0, 0.5, 1.0]},
    "text": 'quote " backslash \\ newline \n tab \t emoji 🚨',
}


def _records() -> list[SQLModel]:
    """One fully populated record of every table, parents before children."""
    return [
        Monitor(
            name="orders-drift",
            kind="drift",
            dataset="orders",
            config=DOCUMENT,
            config_hash="a" * 64,
            updated_at=AWARE,
        ),
        ScanRun(
            id=1,
            monitor="orders-drift",
            scheduled_for=AWARE,
            started_at=NAIVE,
            finished_at=AWARE,
            status="alert",
            claimed_by="replica-1",
            result=DOCUMENT,
            error="traceback text",
            dataset_version="9223372036854775807",
        ),
        ReferenceProfile(
            id=1,
            cache_key="b" * 64,
            dataset="orders",
            window_start=NAIVE,
            window_end=AWARE,
            source_fingerprint="c" * 64,
            schema_version=3,
            profile=DOCUMENT,
            created_at=AWARE,
        ),
        Incident(
            id=1,
            fingerprint="d" * 64,
            monitor="orders-drift",
            dataset="orders",
            pattern="feature_drift",
            scope={"column": "amount"},
            severity="critical",
            status="resolved",
            title="Drift in orders.amount",
            first_seen=AWARE,
            last_seen=NAIVE,
            occurrences=4,
            clean_streak=2,
            evidence=DOCUMENT,
            previous_incident_id=None,
            acknowledged_at=AWARE,
            resolved_at=NAIVE,
            closed_reason="auto-resolved",
            closed_at=AWARE,
            false_alarm=True,
            route={"rule": "routes[0]", "playbook": "quarantine", "params": {"max_files": 3}},
            silenced_by="maintenance:migration",
            group_id=1,
        ),
        Incident(
            id=2,
            fingerprint="d" * 64,
            monitor="orders-drift",
            dataset="orders",
            pattern="feature_drift",
            scope={"column": "amount"},
            evidence={},
            previous_incident_id=1,
            first_seen=NAIVE,
            last_seen=NAIVE,
        ),
        Silence(
            id=1,
            dataset="orders",
            monitor=None,
            pattern="null_spike",
            starts_at=NAIVE,
            ends_at=AWARE,
            created_by="U123",
            reason="backfill of 2025-03-09 — known, ☂",
            created_at=AWARE,
            expired_at=NAIVE,
        ),
        PlaybookRun(
            id=1,
            incident_id=2,
            playbook="relabel_batch",
            params={"batch": "2025-03-09"},
            plan=DOCUMENT,
            plan_hash="e" * 64,
            origin="agent",
            approval_policy="two_person",
            status="approved",
            step_log=[{"step": "copy", "ok": True}, {"step": "swap", "rows": 10}],
            created_at=AWARE,
            updated_at=NAIVE,
            heartbeat_at=AWARE,
            claimed_by="replica-2",
            error=None,
            requested_by="alice",
        ),
        ProposalRequest(
            id=1,
            incident_id=2,
            status="proposed",
            attempts=2,
            next_attempt_at=NAIVE,
            claimed_by="host:12:abcdef",
            claimed_at=AWARE,
            last_error="OSError: the source was away",
            run_id=1,
            created_at=AWARE,
            updated_at=NAIVE,
        ),
        Approval(
            id=1,
            run_id=1,
            actor="U123",
            via="slack",
            decision="approve",
            plan_hash="e" * 64,
            reason="looks right",
            at=AWARE,
        ),
        OutboxMessage(
            id=1,
            channel="#ml-oncall",
            dedupe_key="incident-2-opened",
            payload=DOCUMENT,
            status="sent",
            attempts=2,
            next_attempt_at=NAIVE,
            external_id="1710000000.000100",
            last_error="rate limited",
            created_at=AWARE,
            sent_at=NAIVE,
            kind="reply",
            incident_id=2,
            transport="pagerduty",
            group_id=1,
        ),
        SlackInteraction(
            id=1,
            dedupe_key="U1:1710000000.000200:warden_approve",
            source="http",
            team_id="T1",
            user_id="U1",
            action="approve",
            payload=DOCUMENT,
            received_at=AWARE,
            status="done",
            result="run 1 approved",
            processed_at=NAIVE,
        ),
        DaemonInstance(
            identity="warden-0:1:a1b2c3",
            host="warden-0",
            pid=1,
            version="0.1.0",
            started_at=AWARE,
            heartbeat_at=NAIVE,
            stopped_at=AWARE,
            stop_reason="presumed_dead",
        ),
        StoreIdentity(id=1, store_id="0123456789abcdef" * 2, created_at=NAIVE),
        ApiToken(
            id=1,
            name="alice-laptop",
            person="alice",
            token_hash="9" * 64,
            created_at=AWARE,
            created_by="root",
            revoked_at=NAIVE,
            revoked_by="bob",
            last_used_at=AWARE,
        ),
        ReportLinkKey(id=1, key="8" * 64, created_at=AWARE),
        AgentThread(
            thread_id="incident-2-1",
            incident_id=2,
            number=1,
            requested_by="alice",
            status="waiting",
            run_id=1,
            outcome="proposed",
            created_at=AWARE,
            updated_at=NAIVE,
        ),
        CompiledQueryPlan(
            plan_id="9" * 64,
            identity_id="a" * 64,
            code_version="b" * 32,
            record='{"sql": "SELECT \'\\u0000\'", "sentinels": [], "columns": ["x"]}',
            created_at=AWARE,
        ),
        AuditEvent(
            seq=1,
            at=AWARE,
            actor="warden",
            action="incident.opened",
            entity_type="incident",
            entity_id="2",
            payload=DOCUMENT,
            prev_hash="0" * 64,
            hash="f" * 64,
        ),
        AssetRecord(
            id=1,
            dataset="photos",
            path="date=2025-01-01/caf\u00e9 \u00fc.jpg",
            size=2**40,
            mtime_ns=1_735_689_600_123_456_789,
            inode=2**50,
            status="corrupt",
            reason="undecodable",
            detail="the image does not decode: image file is truncated",
            sha256="e" * 64,
            kind="image",
            format="JPEG",
            width=4000,
            height=3000,
            aspect=4000 / 3000,
            brightness=0.123456789,
            p99=0.98,
            blur=1234.5,
            phash=-(2**63),  # signed 64-bit hashes at both ends of the range
            dhash=2**63 - 1,
            duration_seconds=None,
            sample_rate=None,
            metrics_version=1,
            event_time=AWARE,
            first_seen_at=AWARE,
            checked_at=AWARE,
            gone_at=None,
        ),
        DatasetVersionRecord(
            id=1,
            dataset="orders",
            version="6450044280807158690",  # an Iceberg snapshot id: beyond 2^53, kept text
            kind="iceberg",
            details={"files": [{"path": "file:///w/caf\u00e9.parquet", "size": 2**40}]},
            columns={"amount": "float64", "event_time": "timestamp('UTC')"},
            first_seen_at=NAIVE,
            last_seen_at=AWARE,
            first_scan_run_id=1,
            last_scan_run_id=None,
            scans=3,
        ),
        LineageEvent(
            id=1,
            run_id="0190e5a8-0000-7000-8000-000000000000",
            event_type="COMPLETE",
            scan_run_id=1,
            payload=DOCUMENT,
            status="pending",
            attempts=2,
            next_attempt_at=AWARE,
            claimed_until=None,
            last_error="http://x answered 500: \u00e9",
            created_at=NAIVE,
            sent_at=None,
        ),
        LineageRun(
            id=1,
            run_id="0190e5a8-0000-7000-8000-000000000001",
            job_namespace="training",
            job_name="caf\u00e9 model",
            event_type="COMPLETE",
            event_time=AWARE,
            producer="https://example.com/trainer",
            received_at=NAIVE,
            received_by="api:alice",
            payload=DOCUMENT,
        ),
        LineageInput(
            id=1,
            lineage_run_id=1,
            namespace="file",
            name="/data/" + "x" * 3000,  # long paths are text
            dataset="orders",
            version="6450044280807158690",
            version_source="table at event time",
        ),
        MetricPoint(
            id=1,
            monitor="events-metrics",
            dataset="orders",
            column_name="caf\u00e9",
            metric="null_rate",
            window_start=NAIVE,
            window_end=AWARE,
            value=0.0213,
            origin="backfill",
            scan_run_id=None,
            anomalous=True,
            expected=0.02,
            expected_low=0.017,
            expected_high=1e-300,
            recorded_at=NAIVE,
        ),
        IncidentGroup(
            id=1,
            dataset="orders",
            channel="C0ONCALL",
            policy="default \u2014 critical",
            opened_at=AWARE,
            accepting_until=NAIVE,
            accepting=False,
            lead_incident_id=1,
            status="acknowledged",
            escalation_started_at=AWARE,
            held_since=NAIVE,
            held_seconds=90.5,
            acknowledged_at=AWARE,
            closed_at=None,
            generation=2,
            page_dedup_key="f" * 255,
            created_at=NAIVE,
        ),
        EscalationFiring(
            id=1,
            group_id=1,
            generation=2,
            step=-1,
            reminder=3,
            policy="default",
            action="remind",
            fired_at=AWARE,
            fired_by="replica-b \u2713",
        ),
    ]


def _as_stored(value: Any) -> Any:
    """What the store must hand back for `value`: datetimes as the same instant in UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _primary_key(record: SQLModel) -> tuple[Any, ...]:
    return tuple(getattr(record, column.name) for column in record.__table__.primary_key)  # type: ignore[attr-defined]


def test_samples_cover_every_table() -> None:
    assert {type(record) for record in _records()} == set(ALL_TABLES)


def test_every_record_round_trips(store: Store) -> None:
    with store.session() as session:
        for record in _records():  # one flush each: no relationships tell the ORM the order
            if isinstance(record, StoreIdentity | ReportLinkKey):
                session.merge(record)  # the migrations made these one-row tables' row
            else:
                session.add(record)
            session.flush()

    with store.session(readonly=True) as session:
        for written in _records():
            read = session.get(type(written), _primary_key(written))
            assert read is not None, written
            expected = {name: _as_stored(value) for name, value in written.model_dump().items()}
            assert read.model_dump() == expected, type(written).__name__
            for name, value in read.model_dump().items():
                if isinstance(value, datetime):
                    assert value.tzinfo is not None and value.utcoffset() == timedelta(0), name


def test_naive_datetimes_are_taken_as_utc(store: Store) -> None:
    with store.session() as session:
        session.add(ScanRun(monitor="m", scheduled_for=NAIVE))

    with store.session(readonly=True) as session:
        scheduled_for = session.exec(select(ScanRun.scheduled_for)).one()
    assert scheduled_for == NAIVE.replace(tzinfo=UTC)
    assert scheduled_for.tzinfo is not None


def test_datetimes_compare_by_instant_in_queries(store: Store) -> None:
    with store.session() as session:
        session.add(ScanRun(monitor="m", scheduled_for=AWARE))

    with store.session(readonly=True) as session:
        same_instant_in_utc = AWARE.astimezone(UTC)
        found = session.exec(select(ScanRun).where(ScanRun.scheduled_for == same_instant_in_utc))
        assert len(found.all()) == 1


def test_json_round_trips_exactly(store: Store) -> None:
    with store.session() as session:
        session.add(OutboxMessage(channel="c", dedupe_key="k", payload=DOCUMENT))

    with store.session(readonly=True) as session:
        payload = session.exec(select(OutboxMessage.payload)).one()
    assert payload == DOCUMENT
    assert type(payload["count"]) is int
    assert type(payload["nested"]["bins"][0]) is float


def test_second_scan_run_for_the_same_tick_is_rejected(store: Store) -> None:
    with store.session() as session:
        session.add(ScanRun(monitor="orders-drift", scheduled_for=AWARE, claimed_by="replica-1"))

    with pytest.raises(IntegrityError), store.session() as session:
        # The same instant written in another zone is the same tick.
        session.add(
            ScanRun(
                monitor="orders-drift", scheduled_for=AWARE.astimezone(UTC), claimed_by="replica-2"
            )
        )

    with store.session() as session:
        session.add(ScanRun(monitor="orders-drift", scheduled_for=AWARE + timedelta(hours=1)))
        session.add(ScanRun(monitor="other-monitor", scheduled_for=AWARE))
    with store.session(readonly=True) as session:
        assert len(session.exec(select(ScanRun)).all()) == 3


def _incident(status: str, fingerprint: str = "f" * 64) -> Incident:
    return Incident(
        fingerprint=fingerprint,
        monitor="m",
        dataset="d",
        pattern="null_spike",
        scope={},
        evidence={},
        status=status,
    )


def test_two_active_incidents_with_one_fingerprint_are_rejected(store: Store) -> None:
    # Every pair of active statuses, each pair on its own fingerprint (one database for all).
    for first in ACTIVE_INCIDENT_STATUSES:
        for second in ACTIVE_INCIDENT_STATUSES:
            fingerprint = f"{first}-{second}"
            with store.session() as session:
                session.add(_incident(first, fingerprint))

            with pytest.raises(IntegrityError), store.session() as session:
                session.add(_incident(second, fingerprint))

    with store.session(readonly=True) as session:
        assert len(session.exec(select(Incident)).all()) == len(ACTIVE_INCIDENT_STATUSES) ** 2


def test_resolved_incidents_do_not_block_a_new_active_one(store: Store) -> None:
    with store.session() as session:
        session.add(_incident(IncidentStatus.resolved))
        session.add(_incident(IncidentStatus.closed))
        session.add(_incident(IncidentStatus.resolved))
        session.add(_incident(IncidentStatus.open))
        session.add(_incident(IncidentStatus.open, fingerprint="0" * 64))

    with store.session(readonly=True) as session:
        assert len(session.exec(select(Incident)).all()) == 5


def test_resolving_then_reopening_is_allowed(store: Store) -> None:
    with store.session() as session:
        incident = _incident(IncidentStatus.open)
        session.add(incident)
    with store.session() as session:
        incident.status = IncidentStatus.resolved
        session.add(incident)
    with store.session() as session:
        session.add(_incident(IncidentStatus.open))

    with pytest.raises(IntegrityError), store.session() as session:
        # Reopening the resolved one while a new one is open would make two active.
        incident.status = IncidentStatus.acknowledged
        session.add(incident)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ReferenceProfile(
            cache_key="k" * 64, dataset="d", source_fingerprint="s", profile={}
        ),
        lambda: OutboxMessage(channel="#c", dedupe_key="incident-1-opened", payload={}),
    ],
    ids=["reference_profile.cache_key", "outbox_message.dedupe_key"],
)
def test_unique_keys_are_enforced(store: Store, make: Any) -> None:
    with store.session() as session:
        session.add(make())

    with pytest.raises(IntegrityError), store.session() as session:
        session.add(make())


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(Approval(run_id=404, actor="U1", via="cli", decision="approve", plan_hash="h"))

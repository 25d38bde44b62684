"""Incident semantics on every store backend: dedup, update, auto-resolve, reopen, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from daemon.incidents.incidents import AUTO_RESOLVE_AFTER, observe
from daemon.store.audit import verify_audit_chain
from daemon.store.models import AuditEvent, Incident
from detectors.results import DetectorResult, Finding

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DRIFT = Finding("feature_drift", "salary", "wasserstein", 0.8, 0.1, True)


def _scan(store, result: DetectorResult, day: int, monitor: str = "m"):
    with store.session() as session:
        return observe(
            session,
            monitor=monitor,
            dataset="d",
            severity="warning",
            result=result,
            windows={},
            at=T0 + timedelta(days=day),
        )


def _incidents(store) -> list[Incident]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(Incident).order_by(Incident.id)).all())


def test_repeated_detection_updates_one_incident(store):
    first = _scan(store, DetectorResult.from_findings([DRIFT]), 0)
    spread = Finding("feature_drift", "region", "jensen_shannon", 0.3, 0.1, True)
    second = _scan(store, DetectorResult.from_findings([DRIFT, spread]), 1)
    assert first.opened and second.updated == first.opened and not second.opened
    (incident,) = _incidents(store)
    assert incident.occurrences == 2 and incident.last_seen == T0 + timedelta(days=1)
    assert {f["column"] for f in incident.evidence["findings"]} == {"salary", "region"}


def test_auto_resolve_after_clean_scans_then_reopen_linked(store):
    opened = _scan(store, DetectorResult.from_findings([DRIFT]), 0).opened[0]
    clean = DetectorResult.from_findings(
        [Finding("feature_drift", "salary", "wasserstein", 0.01, 0.1, False)]
    )
    for day in range(1, AUTO_RESOLVE_AFTER):
        assert not _scan(store, clean, day).resolved
    assert _scan(store, clean, AUTO_RESOLVE_AFTER).resolved == [opened]
    reopened = _scan(store, DetectorResult.from_findings([DRIFT]), 10).opened[0]
    first, second = _incidents(store)
    assert (first.status, second.status) == ("resolved", "open")
    assert second.id == reopened and second.previous_incident_id == first.id
    assert first.fingerprint == second.fingerprint


def test_scans_without_a_verdict_neither_detect_nor_count_as_clean(store):
    _scan(store, DetectorResult.from_findings([DRIFT]), 0)
    for day in range(1, 5):
        _scan(store, DetectorResult.insufficient("empty window"), day)
        _scan(store, DetectorResult.failed("source down"), day)
    (incident,) = _incidents(store)
    assert incident.status == "open" and incident.clean_streak == 0 and incident.occurrences == 1


def test_each_missing_partition_is_its_own_incident(store):
    gaps = [
        Finding("missing_partition", None, "rows_in_bucket", 0, 1, True, details={"partition": day})
        for day in ("2025-01-02", "2025-01-05")
    ]
    assert len(_scan(store, DetectorResult.from_findings(gaps), 6).opened) == 2
    assert len(_scan(store, DetectorResult.from_findings(gaps), 7).updated) == 2
    assert sorted(i.scope["partition"] for i in _incidents(store)) == ["2025-01-02", "2025-01-05"]


def test_every_change_is_audited_and_the_chain_verifies(store):
    _scan(store, DetectorResult.from_findings([DRIFT]), 0)
    _scan(store, DetectorResult.from_findings([DRIFT]), 1)
    clean = DetectorResult.from_findings([])
    _scan(store, clean, 2)
    _scan(store, clean, 3)
    with store.session(readonly=True) as session:
        actions = [
            e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
        ]
        assert actions == [
            "incident.opened",
            "group.opened",  # every routed incident joins a group (one message, one page)
            "incident.routed",
            "incident.updated",
            "incident.resolved",
            "group.closed",  # its only member resolved
        ]
        assert verify_audit_chain(session).ok


def test_concurrent_scans_of_the_same_problem_open_one_incident_and_count_each_tick_once(store):
    """Eight replicas scan the same failing data over the same five ticks, concurrently:
    one incident, five occurrences (a lost update or a double count would give another
    number), the last tick as last seen."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            barrier.wait()
            for day in range(5):
                _scan(store, DetectorResult.from_findings([DRIFT]), day)
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=replica) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    (incident,) = _incidents(store)
    assert incident.occurrences == 5
    assert incident.last_seen == T0 + timedelta(days=4)


def test_replays_and_reruns_do_not_count_twice_or_resolve_later_detections(store):
    detected = DetectorResult.from_findings([DRIFT])
    clean = DetectorResult.from_findings([])
    _scan(store, detected, 10)
    _scan(store, detected, 10)  # the same tick again
    for day in (3, 4, 5):  # an older replay, clean
        assert not _scan(store, clean, day).resolved
    _scan(store, detected, 2)  # an older detection moves the start back
    (incident,) = _incidents(store)
    assert (incident.status, incident.occurrences, incident.clean_streak) == ("open", 1, 0)
    assert incident.first_seen == T0 + timedelta(days=2) and incident.last_seen == T0 + timedelta(
        days=10
    )
    _scan(store, clean, 11)
    _scan(store, clean, 11)  # a re-run of the same clean tick counts once
    assert _incidents(store)[0].status == "open"
    assert _scan(store, clean, 12).resolved == [incident.id]


def test_a_missing_partition_resolves_only_when_it_is_checked_and_present(store):
    gap = Finding(
        "missing_partition",
        None,
        "rows_in_bucket",
        0,
        1,
        True,
        details={"partition": "2025-01-03T00:00:00+00:00"},
    )
    _scan(
        store,
        DetectorResult.from_findings(
            [gap],
            summary={
                "checked_partitions": {
                    "start": "2025-01-01T00:00:00+00:00",
                    "end": "2025-01-08T00:00:00+00:00",
                }
            },
        ),
        8,
    )
    scrolled_out = {
        "checked_partitions": {
            "start": "2025-01-05T00:00:00+00:00",
            "end": "2025-01-12T00:00:00+00:00",
        }
    }
    for day in (12, 13, 14):
        assert not _scan(
            store, DetectorResult.from_findings([], summary=scrolled_out), day
        ).resolved
    backfilled = {
        "checked_partitions": {
            "start": "2025-01-01T00:00:00+00:00",
            "end": "2025-01-16T00:00:00+00:00",
        }
    }
    _scan(store, DetectorResult.from_findings([], summary=backfilled), 15)
    assert _scan(store, DetectorResult.from_findings([], summary=backfilled), 16).resolved


def test_a_repeated_detection_takes_the_monitors_current_severity(store):
    (opened,) = _scan(store, DetectorResult.from_findings([DRIFT]), 0).opened
    with store.session() as session:
        observe(
            session,
            monitor="m",
            dataset="d",
            severity="critical",
            result=DetectorResult.from_findings([DRIFT]),
            windows={},
            at=T0 + timedelta(days=1),
        )
    (incident,) = _incidents(store)
    assert incident.id == opened and incident.severity == "critical"

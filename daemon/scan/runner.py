"""Run one monitor once: claim the tick, evaluate, record incidents, report.

A scan never raises for bad data or an unreachable source: the report's status is `error`
with a message a person can act on, and the scan run is recorded as such. The scan run
update, the incident changes and their audit events commit in one transaction.

What a scan records and reports is bounded first (`bounded`): every string from the data
(category values in evidence, messages) is sanitised and capped at
`daemon.store.json_safety.MAX_STORED_STRING` characters (2,000), keys included, and
non-finite numbers become null, so a NUL byte or a 100,000-character value can neither fail
the write on PostgreSQL nor reach the evidence, the report or the agent's prompt whole.

A scan run is one monitor at one scan time. Scanning a time again (`warden scan --at T`
twice, a backfill run again) replaces that run's result and keeps its id; its
`scan.completed` event then carries `replaces` (the status, time and claimant of the result
it replaced), so the audit trail holds both results and says which came later. A replay
counts nothing twice in incidents (see `daemon.incidents.incidents`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.incidents.incidents import IncidentPolicy, ObserveOutcome, observe
from daemon.lineage.outbox import build_scan_event, queue
from daemon.scan.datasets import MEMORY_LIMIT_VARIABLE
from daemon.scan.evaluators import EVALUATORS, Evaluation, ScanContext
from daemon.scan.file_changes import changed_paths, file_fingerprints
from daemon.scan.open_sources import OpenSources
from daemon.scan.plan_archive import plan_archive
from daemon.scan.version_records import record_version
from daemon.scan.versions import read_version
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.errors import StoreError
from daemon.store.json_safety import bounded_json
from daemon.store.metric_points import points_from_metrics, record_points
from daemon.store.models import Monitor, ScanRun, ScanStatus
from daemon.store.types import utcnow
from detectors.results import DetectorResult, Finding, Status
from detectors.sources.errors import SourceError
from detectors.sources.files import DEFAULT_MEMORY_LIMIT

log = logging.getLogger(__name__)


@dataclass
class ScanReport:
    """What `warden scan --json` prints for one monitor (the DESIGN.md contract and more)."""

    monitor: str
    kind: str
    dataset: str
    at: datetime
    status: str
    message: str
    findings: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)
    incident_ids: list[int] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    #: Incidents this scan routed; those routed to a playbook wait in the proposal queue.
    routed: list[int] = field(default_factory=list)
    scan_run_id: int | None = None
    #: The earlier result of this scan run that this scan replaced (`warden scan --at` a
    #: time scanned before): its status, when it finished and who ran it; else None.
    replaces: dict[str, Any] | None = None
    reference_cached: bool | None = None
    duration_seconds: float = 0.0
    #: The id of the dataset version the scan read (`daemon.scan.versions`), its kind
    #: (files, delta, iceberg, sql), and why it is None when it could not be read.
    dataset_version: str | None = None
    dataset_version_kind: str | None = None
    dataset_version_error: str | None = None

    @property
    def incident_id(self) -> int | None:
        return self.incident_ids[0] if self.incident_ids else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "kind": self.kind,
            "dataset": self.dataset,
            "at": self.at.isoformat(),
            "status": self.status,
            "message": self.message,
            "findings": self.findings,
            "incident_id": self.incident_id,
            "incident_ids": self.incident_ids,
            "opened_incidents": self.opened,
            "resolved_incidents": self.resolved,
            "summary": self.summary,
            "windows": self.windows,
            "scan_run_id": self.scan_run_id,
            "replaces": self.replaces,
            "reference_cached": self.reference_cached,
            "duration_seconds": round(self.duration_seconds, 3),
            "dataset_version": self.dataset_version,
            "dataset_version_kind": self.dataset_version_kind,
            "dataset_version_error": self.dataset_version_error,
        }


def config_hash(monitor: MonitorConfig) -> str:
    return hashlib.sha256(
        json.dumps(monitor.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()


#: Attempts of `sync_monitors` when replicas starting together insert the same monitor.
SYNC_ATTEMPTS = 3


def sync_monitors(store: Store, config: WardenConfig) -> None:
    """Make the store's Monitor rows match the config (the config is the source of truth).

    Replicas starting together on a new store both find a monitor missing and insert it;
    the one whose insert loses reads the rows again (they exist now) instead of failing.
    """
    for attempt in range(1, SYNC_ATTEMPTS + 1):
        try:
            _sync_monitors(store, config)
            return
        except IntegrityError:
            if attempt == SYNC_ATTEMPTS:
                raise
            log.info("monitors were being written by another daemon; reading them again")


def _sync_monitors(store: Store, config: WardenConfig) -> None:
    with store.session() as session:
        stored = {m.name: m for m in session.exec(select(Monitor)).all()}
        for monitor in config.monitors:
            digest = config_hash(monitor)
            row = stored.get(monitor.name)
            if row is not None and row.config_hash == digest:
                continue
            row = row or Monitor(
                name=monitor.name,
                kind=monitor.kind,
                dataset=monitor.dataset,
                config={},
                config_hash="",
            )
            row.kind, row.dataset = monitor.kind, monitor.dataset
            row.config, row.config_hash, row.updated_at = (
                monitor.model_dump(mode="json"),
                digest,
                utcnow(),
            )
            session.add(row)


@dataclass(frozen=True)
class TickClaim:
    """A claimed scan run; `replaces` describes the earlier result it will overwrite."""

    run_id: int
    replaces: dict[str, Any] | None = None


def claim_tick(
    store: Store, monitor: str, at: datetime, *, claimed_by: str, replace: bool
) -> TickClaim | None:
    """Insert the ScanRun for (monitor, at); None when another run holds it and not `replace`."""
    try:
        with store.session() as session:
            run = ScanRun(monitor=monitor, scheduled_for=at, claimed_by=claimed_by)
            session.add(run)
            session.flush()
            assert run.id is not None
            return TickClaim(run.id)
    except IntegrityError:
        if not replace:
            return None
    with store.session() as session:
        run = session.exec(
            select(ScanRun).where(ScanRun.monitor == monitor, ScanRun.scheduled_for == at)
        ).one()
        replaces = {
            "status": run.status,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "claimed_by": run.claimed_by,
        }
        run.status, run.started_at, run.finished_at, run.claimed_by = (
            "running",
            utcnow(),
            None,
            claimed_by,
        )
        run.result, run.error = None, None
        session.add(run)
        assert run.id is not None
        return TickClaim(run.id, replaces)


def evaluate(context: ScanContext) -> Evaluation:
    """Run the monitor's evaluator; turn any failure into an `error` result.

    When the scan fails and the files it reads changed meanwhile (a partition truncated or
    rewritten by a writer mid-scan: `daemon.scan.file_changes`), it is run once more on the
    files as they are now, so one writer's timing does not make the whole tick `error`.
    """
    before = file_fingerprints(context.config, context.monitor)
    evaluation = _evaluate_once(context)
    if evaluation.result.status != Status.error or not before:
        return evaluation
    changed = changed_paths(before, file_fingerprints(context.config, context.monitor))
    if not changed:
        return evaluation
    log.warning(
        "%s: %d data file(s) changed while it was scanned (%s); scanning again",
        context.monitor.name,
        len(changed),
        ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else ""),
        extra={"monitor": context.monitor.name},
    )
    return _evaluate_once(context)


def _evaluate_once(context: ScanContext) -> Evaluation:
    context.opened.clear()
    try:
        with context.leases:  # the kept datasets it used are given back when it ends
            evaluation = EVALUATORS[context.monitor.kind](context)
            return with_version(context, evaluation)
    except SourceError as error:
        return Evaluation(DetectorResult.failed(str(error)))
    except MemoryError as error:
        return Evaluation(DetectorResult.failed(f"out of memory while scanning: {error}"))
    except Exception as error:
        if "OutOfMemory" in type(error).__name__:  # engine-specific classes (DuckDB's, ...)
            return Evaluation(
                DetectorResult.failed(
                    "the query engine ran out of its memory budget; raise it with "
                    f"{MEMORY_LIMIT_VARIABLE} (default {DEFAULT_MEMORY_LIMIT}) or scan a "
                    f"shorter window. Engine said: {str(error).splitlines()[0]}"
                )
            )
        log.exception("scan of %s failed", context.monitor.name)
        return Evaluation(
            DetectorResult.failed(f"internal error while scanning: {type(error).__name__}: {error}")
        )


def with_version(context: ScanContext, evaluation: Evaluation) -> Evaluation:
    """`evaluation` with the version of the monitor's dataset that the scan read
    (`daemon.scan.versions`); a version that cannot be read is reported beside the result
    (`version_error`), never instead of it."""
    if evaluation.dataset_version is not None:
        return evaluation
    name = context.monitor.dataset
    source = context.opened.get(name)
    if source is None:
        return replace(evaluation, version_error="the scan did not open its dataset")
    try:
        version = read_version(name, context.config.datasets[name], source, evaluation.windows)
    except Exception as error:  # noqa: BLE001 - the verdict stands without its version
        log.warning(
            "%s: the version of %s could not be read: %s",
            context.monitor.name,
            name,
            error,
            extra={"monitor": context.monitor.name},
        )
        return replace(
            evaluation, version_error=f"{type(error).__name__}: {str(error).splitlines()[0]}"
        )
    return replace(evaluation, dataset_version=version)


def bounded(evaluation: Evaluation) -> Evaluation:
    """`evaluation` as a scan records and reports it: its findings, message, summary and
    windows through `bounded_json` (strings sanitised and capped at `MAX_STORED_STRING`
    characters, keys too; NaN and infinities null)."""
    result = evaluation.result
    findings = tuple(Finding.from_dict(bounded_json(f.to_dict())) for f in result.findings)
    return replace(
        evaluation,
        result=replace(
            result,
            findings=findings,
            message=bounded_json(result.message),
            summary=bounded_json(result.summary),
        ),
        windows=bounded_json(evaluation.windows),
        metrics=bounded_json(evaluation.metrics),
    )


def run_scan(
    config: WardenConfig,
    monitor: MonitorConfig,
    at: datetime,
    store: Store,
    *,
    claimed_by: str = "cli",
    replace: bool = True,
    refresh_reference: bool = False,
    claim: TickClaim | None = None,
    sources: OpenSources | None = None,
) -> ScanReport | None:
    """Scan `monitor` as of `at`; None when the tick was already claimed (and not `replace`),
    or when another daemon took the tick over while this scan ran (its result is dropped).

    `claim` is a scan run already claimed for `claimed_by` (the reconciler resuming a scan
    that a dead daemon left running); without it, the tick is claimed here. `sources` are
    the daemon's open file datasets (`daemon.scan.open_sources`), reused between its scans.
    """
    started = time.perf_counter()
    claim = claim or claim_tick(store, monitor.name, at, claimed_by=claimed_by, replace=replace)
    if claim is None:
        return None
    run_id = claim.run_id
    evaluation = bounded(
        evaluate(
            ScanContext(
                config,
                monitor,
                at,
                store,
                refresh_reference=refresh_reference,
                sources=sources,
            )
        )
    )
    result = evaluation.result
    findings = [finding.to_dict() for finding in result.findings]
    version = evaluation.dataset_version
    version_summary = (
        None
        if version is None
        else {"version": version.version, "kind": version.kind, "scan_run_id": run_id}
    )

    lineage_event = build_scan_event(
        config,
        monitor=monitor.name,
        dataset=monitor.dataset,
        at=at,
        status=result.status.value,
        message=result.message,
        findings=findings,
        metrics=evaluation.metrics,
        version=version,
    )

    def record() -> ObserveOutcome | None:
        """The result, its incidents and its audit event, in one transaction; None when
        the tick is no longer ours."""
        with store.session() as session:
            run = session.get(ScanRun, run_id, with_for_update=True)
            if run is None or run.claimed_by != claimed_by:
                # Presumed dead while scanning (a long pause, the store away): another daemon
                # resumed this tick, and its result is the one that counts.
                log.warning(
                    "%s: the scan at %s was taken over by %s; this result is dropped",
                    monitor.name,
                    at.isoformat(),
                    run.claimed_by if run else "nobody (deleted)",
                    extra={"monitor": monitor.name, "scan_run_id": run_id},
                )
                return None
            outcome = observe(
                session,
                monitor=monitor.name,
                dataset=monitor.dataset,
                severity=monitor.severity,
                result=result,
                windows=evaluation.windows,
                at=at,
                policy=IncidentPolicy.from_config(config),
                dataset_version=version_summary,
            )
            if version is not None:
                record_version(session, monitor.dataset, version, scan_run_id=run_id, at=utcnow())
            record_points(
                session,
                monitor=monitor.name,
                dataset=monitor.dataset,
                points=evaluation.points
                or points_from_metrics(evaluation.metrics, evaluation.windows.get("current")),
                scan_run_id=run_id,
            )
            run.dataset_version = version.version if version is not None else None
            run.status = result.status.value
            run.finished_at = utcnow()
            run.error = result.message if result.status == Status.error else None
            run.result = {
                "status": result.status.value,
                "message": result.message,
                "summary": result.summary,
                "alerts": [f for f in findings if f["alert"]],
                "dataset_version": version_summary,
                "dataset_version_error": evaluation.version_error,
            }
            session.add(run)
            plan_archive(store).flush(session)  # queries it compiled, for the next process
            queue(session, lineage_event, run_id)  # sent later; lost with the scan or never
            append_audit(
                session,
                actor=claimed_by,
                action="scan.completed",
                entity_type="scan_run",
                entity_id=str(run_id),
                payload={
                    "monitor": monitor.name,
                    "at": at.isoformat(),
                    "status": result.status.value,
                    "alerts": [
                        {key: f[key] for key in ("pattern", "column", "statistic")}
                        for f in findings
                        if f["alert"]
                    ],
                    "incidents": outcome.active,
                    "resolved": outcome.resolved,
                    "replaces": claim.replaces,
                    "dataset_version": version.version if version is not None else None,
                },
            )
            return outcome

    try:
        outcome = record()
    except (SQLAlchemyError, StoreError) as error:
        _mark_unrecorded(store, run_id, claimed_by, error)
        raise
    if outcome is None:
        return None
    return ScanReport(
        monitor=monitor.name,
        kind=monitor.kind,
        dataset=monitor.dataset,
        at=at,
        status=result.status.value,
        message=result.message,
        findings=findings,
        summary=result.summary,
        windows=evaluation.windows,
        incident_ids=outcome.active,
        opened=outcome.opened,
        routed=outcome.routed,
        resolved=outcome.resolved,
        scan_run_id=run_id,
        replaces=claim.replaces,
        reference_cached=evaluation.reference_cached,
        duration_seconds=time.perf_counter() - started,
        dataset_version=version.version if version is not None else None,
        dataset_version_kind=version.kind if version is not None else None,
        dataset_version_error=evaluation.version_error,
    )


def _mark_unrecorded(store: Store, run_id: int, claimed_by: str, error: Exception) -> None:
    """The result could not be written (the store timed out or went away): record the scan
    as `error` if the store lets us, so it is not left `running` until the next restart."""
    try:
        with store.session() as session:
            run = session.get(ScanRun, run_id, with_for_update=True)
            if run is not None and run.claimed_by == claimed_by and run.status == "running":
                run.status, run.finished_at = ScanStatus.error.value, utcnow()
                # The error's text may quote the values that failed the write: bound it too.
                run.error = bounded_json(
                    f"the result could not be recorded: {type(error).__name__}: {error}"
                )
                session.add(run)
    except (SQLAlchemyError, StoreError):
        log.warning("scan run %s stays running: the store still does not answer", run_id)

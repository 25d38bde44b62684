"""`warden scan`: run monitors once (cron jobs, CI, backfills with --at)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    err_console,
    load,
    parse_at,
    print_json_lines,
    store_for,
    styled_status,
)
from daemon.cli.safe_text import data_markup, data_text
from daemon.crash_points import stop_if_asked
from daemon.store.errors import StoreError
from daemon.store.identities import new_identity
from daemon.store.json_safety import bounded_json

if TYPE_CHECKING:
    from daemon.config import WardenConfig
    from daemon.config.lineage import OpenLineageConfig
    from daemon.config.models import MonitorConfig
    from daemon.store.engine import Store

if TYPE_CHECKING:
    from daemon.remediation.proposal_requests import PlanningOutcome
    from daemon.scan import ScanReport

log = logging.getLogger(__name__)

#: How far past now --at may be without --future: clocks of two machines disagree a little.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Exit code when at least one monitor could not be evaluated (its status is `error`).
EXIT_MONITOR_ERROR = 3


def select_monitors(config: WardenConfig, names: list[str] | None) -> list[MonitorConfig]:
    if not config.monitors:
        raise UsageProblem("the config defines no monitors; add some under `monitors:`")
    if not names:
        return list(config.monitors)
    known = {monitor.name: monitor for monitor in config.monitors}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageProblem(
            f"unknown monitor(s) {', '.join(unknown)}; the config has: {', '.join(known)}"
        )
    return [known[name] for name in names]


def scan(
    config: ConfigOption = None,
    monitor: Annotated[
        list[str] | None, typer.Option("--monitor", "-m", help="Only this monitor (repeatable).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate windows as of this ISO 8601 time (default: now, UTC)."),
    ] = None,
    as_json: JsonOption = False,
    refresh_reference: Annotated[
        bool, typer.Option("--refresh-reference", help="Recompute cached reference profiles.")
    ] = False,
    future: Annotated[
        bool,
        typer.Option(
            "--future",
            help="Allow --at later than now: a time that has not come yet sees windows still "
            "filling, and may open incidents about data that is only incomplete.",
        ),
    ] = False,
) -> None:
    """Run monitors once, print their verdicts, and plan the proposals they queued.

    Exit code 0 when every monitor was evaluated (alerts and insufficient data included),
    3 when some monitor reported `error` (all results are still printed: a monitor whose
    scan raised is reported as `error` and the others still run), 2 when Warden itself could
    not run (config, store).
    """
    # Deferred: the engines load only to scan (and the playbooks only to plan, `_plan`).
    from daemon.remediation.proposal_requests import still_queued
    from daemon.scan import run_scan, sync_monitors

    loaded = load(config)
    monitors = select_monitors(loaded, monitor)
    now = datetime.now(UTC).replace(microsecond=0)
    moment = parse_at(at) or now
    if moment > now + FUTURE_TOLERANCE and not future:
        raise UsageProblem(
            f"--at {moment.isoformat()} is in the future (now is {now.isoformat()}); a scan "
            "of a time that has not come sees incomplete windows. Give --future if you mean it"
        )
    store = store_for(loaded)
    sync_monitors(store, loaded)
    reports: list[ScanReport] = []
    silenced: dict[int, str] = {}
    proposals: list[PlanningOutcome] = []
    planner = new_identity()
    with console.status("scanning...", spinner="dots") if not as_json else _nothing():
        for item in monitors:
            try:
                report = run_scan(
                    loaded,
                    item,
                    moment,
                    store,
                    claimed_by="cli",
                    refresh_reference=refresh_reference,
                )
            except StoreError:
                raise  # the store itself is unusable: no monitor can run (exit 2)
            except Exception as error:  # one monitor's failure never stops the others
                log.debug("scan of %s failed", item.name, exc_info=True)
                report = failed_report(item, moment, error)
            if report is None:  # a daemon took this scan over (it ran for over an hour)
                raise UsageProblem(
                    f"the scan of {item.name} at {moment.isoformat()} was taken over by a "
                    "daemon while it ran; its result is the one recorded (warden runs, audit)"
                )
            stop_if_asked("scan.recorded")
            planned = _plan(store, loaded, planner, report.routed) + still_queued(
                store, report.routed
            )
            reports.append(report)
            proposals.extend(planned)
            silenced.update(silenced_incidents(store, report.incident_ids))
            if as_json:
                print_json_lines([report_json(report, silenced, planned)])
        if loaded.lineage.openlineage is not None:
            send_lineage(store, loaded.lineage.openlineage)
    store.close()
    if not as_json:
        print_reports(reports, silenced)
        print_proposals(proposals)
    if any(report.status == "error" for report in reports):
        raise typer.Exit(EXIT_MONITOR_ERROR)


def send_lineage(store: Store, target: OpenLineageConfig) -> None:
    """Send the scans' OpenLineage events now (a cron scan has no daemon to send them);
    what cannot go now stays queued for the next scan or the daemon, and is said."""
    from daemon.lineage.delivery import deliver_due

    outcome = deliver_due(store, target)
    if outcome.retried or outcome.failed:
        err_console.print(
            f"OpenLineage: {outcome.sent} event(s) sent, {outcome.retried} kept for a later "
            f"attempt, {outcome.failed} refused ({data_markup(outcome.errors[0])}); see "
            "`warden lineage events`"
        )


def _plan(
    store: Store, config: WardenConfig, identity: str, routed: list[int]
) -> list[PlanningOutcome]:
    """Plan the proposals of the incidents this scan routed. The playbooks (and the
    dataframe and engine modules some of them use) are imported only when there are some:
    a scan that routed nothing, as most scans, starts without them."""
    if not routed:
        return []
    from daemon.remediation.proposal_queue import plan_pending

    return plan_pending(store, config, identity=identity, incident_ids=routed)


def failed_report(monitor: MonitorConfig, at: datetime, error: Exception) -> ScanReport:
    """The `error` report of a monitor whose scan raised (its result could not be written,
    or a bug): the error's type and first line, sanitised and capped like any message
    (`daemon.store.json_safety`); driver errors go on to quote the SQL and its values."""
    from daemon.scan import ScanReport

    first_line = next(iter(str(error).splitlines()), "")
    return ScanReport(
        monitor=monitor.name,
        kind=monitor.kind,
        dataset=monitor.dataset,
        at=at,
        status="error",
        message=bounded_json(f"the scan failed: {type(error).__name__}: {first_line}"),
        findings=[],
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def silenced_incidents(store: Store, incident_ids: list[int]) -> dict[int, str]:
    """The silence or maintenance window (`silence:ID`, `maintenance:NAME`) holding each of
    these incidents that one holds: its detections are recorded, not routed."""
    from sqlmodel import col, select

    from daemon.store.models import Incident

    if not incident_ids:
        return {}
    with store.session(readonly=True) as session:
        held = session.exec(
            select(Incident.id, Incident.silenced_by).where(
                col(Incident.id).in_(incident_ids), col(Incident.silenced_by).is_not(None)
            )
        ).all()
    return {incident_id: by for incident_id, by in held if incident_id is not None and by}


def report_json(
    report: ScanReport, silenced: dict[int, str], proposals: list[PlanningOutcome] | None = None
) -> dict[str, object]:
    """The report's JSON plus `incidents`: per incident its id and `silenced_by` (None when
    it was routed as usual), and `proposals`: what planning made of the incidents this scan
    routed to a playbook (`status` proposed, refused, failed, cancelled, or queued / pending
    when it is left to `warden run` or `warden runs plan`)."""
    return {
        **report.to_json_dict(),
        "incidents": [
            {"id": incident_id, "silenced_by": silenced.get(incident_id)}
            for incident_id in report.incident_ids
        ],
        "proposals": [outcome.to_dict() for outcome in proposals or []],
    }


def print_proposals(proposals: list[PlanningOutcome]) -> None:
    """One line per proposal the scans planned or left queued."""
    for outcome in proposals:
        hint = f"; see `warden runs show {outcome.run_id}`" if outcome.run_id else ""
        line = f"Incident #{outcome.incident_id}: {outcome.status}, {outcome.message}{hint}."
        console.print(
            data_text(line),
            highlight=False,
            markup=False,
        )


def print_reports(reports: list[ScanReport], silenced: dict[int, str] | None = None) -> None:
    silenced = silenced or {}
    table = Table(
        title=f"Scan as of {reports[0].at.isoformat() if reports else ''}", show_lines=False
    )
    for header in ("monitor", "kind", "status", "alerts", "incidents"):
        table.add_column(header, no_wrap=header in ("monitor", "status"))
    # Messages carry paths and times that matter to the end: fold, never cut with an ellipsis.
    table.add_column("message", overflow="fold")
    for report in reports:
        alerts = [f for f in report.findings if f["alert"]]
        described = ", ".join(
            sorted(
                {f"{f['pattern']}" + (f"({f['column']})" if f["column"] else "") for f in alerts}
            )
        )
        table.add_row(
            data_markup(report.monitor),
            data_markup(report.kind),
            styled_status(report.status),
            data_markup(described) or "-",
            ", ".join(f"#{i}" + (" silenced" if i in silenced else "") for i in report.incident_ids)
            or "-",
            data_markup(report.message),
        )
    console.print(table)
    listed = {i for report in reports for i in report.incident_ids}
    held = [f"#{i} by {by}" for i, by in sorted(silenced.items()) if i in listed]
    if held:
        console.print(
            data_text(f"Silenced, so recorded but not routed: {', '.join(held)}."),
            highlight=False,
            markup=False,
        )
    replaced = [report.monitor for report in reports if report.replaces]
    if replaced:
        console.print(
            data_text(
                f"Scanned at this time before ({', '.join(replaced)}): these results replace "
                "the earlier ones; the audit trail keeps both."
            ),
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command()(scan)

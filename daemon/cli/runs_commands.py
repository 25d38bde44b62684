"""`warden runs list|show` and `warden approve|reject`: proposed remediations and decisions
for people without Slack. The rules are those of `daemon.remediation.approvals`, whatever
the channel."""

from __future__ import annotations

import getpass
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    print_for_machines,
    print_json_lines,
    store_for,
    styled_status,
)
from daemon.cli.runs_table import print_runs
from daemon.cli.safe_text import data_markup
from daemon.store.identities import new_identity
from daemon.store.states import RunStatus

if TYPE_CHECKING:
    from daemon.store.models import PlaybookRun

app = typer.Typer(
    help="Proposed and executed playbook runs: what would change, who decided, what ran.",
    no_args_is_help=True,
)

RunArgument = Annotated[int, typer.Argument(help="Run id (from `warden runs list`).")]
ActorOption = Annotated[
    str | None, typer.Option("--as", metavar="USER", help="Who decides (default: your login).")
]


def _row(run: PlaybookRun) -> dict[str, object]:
    return {
        "id": run.id,
        "incident_id": run.incident_id,
        "playbook": run.playbook,
        "status": run.status,
        "approval_policy": run.approval_policy,
        "origin": run.origin,
        "plan_hash": run.plan_hash,
        "summary": run.plan.get("summary", ""),
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
    }


@app.command("list")
def list_command(
    config: ConfigOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", metavar="STATUS", help=f"One of: {', '.join(RunStatus)}."),
    ] = None,
    incident: Annotated[int | None, typer.Option(metavar="ID", help="Only this incident.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most N, newest first.")] = 200,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List playbook runs, newest first."""
    from sqlmodel import col, select

    from daemon.store.models import PlaybookRun

    unknown = sorted(set(status or ()) - {s.value for s in RunStatus})
    if unknown:
        raise UsageProblem(f"--status {', '.join(unknown)}: use {', '.join(RunStatus)}")
    query = select(PlaybookRun).order_by(col(PlaybookRun.id).desc()).limit(limit)
    if status:
        query = query.where(col(PlaybookRun.status).in_(status))
    if incident is not None:
        query = query.where(PlaybookRun.incident_id == incident)
    store = store_for(load(config))
    with store.session(readonly=True) as session:
        rows = [_row(run) for run in session.exec(query).all()]
    store.close()
    if print_for_machines(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("No runs match.")
        return
    print_runs(console, rows)


@app.command("show")
def show_command(
    run_id: RunArgument, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Show a run: its plan step by step (what a person approves), decisions, step log."""
    from sqlmodel import col, select

    from daemon.store.models import Approval, PlaybookRun

    loaded = load(config)
    store = store_for(loaded)
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        if run is None:
            store.close()
            raise UsageProblem(f"there is no run {run_id}; see `warden runs list`")
        decisions = session.exec(
            select(Approval).where(Approval.run_id == run_id).order_by(col(Approval.id))
        ).all()
        agent = _agent_proposal(session, run) if run.origin == "agent" else None
    store.close()
    row = {
        **_row(run),
        "plan": run.plan,
        "expires_at": (run.created_at + loaded.playbooks.approval_ttl).isoformat(),
        "decisions": [
            {
                "actor": d.actor,
                "via": d.via,
                "decision": d.decision,
                "at": d.at.isoformat(),
                "plan_hash": d.plan_hash,
                "reason": d.reason,
            }
            for d in decisions
        ],
        "step_log": run.step_log,
        "agent": agent,
    }
    if as_json:
        print_json_lines([row])
        return
    console.print(
        f"[bold]Run {run_id}[/] {styled_status(run.status)}  {data_markup(run.playbook)} "
        f"for incident #{run.incident_id}  ({data_markup(run.approval_policy)} approval, "
        f"{data_markup(run.origin)})"
    )
    console.print(data_markup(run.plan.get("summary", "")))
    if agent is not None:
        console.print(
            f"[bold]Proposed by the agent[/] (confidence {agent['confidence']:.2f}, "
            f"requested by {data_markup(run.requested_by)}): {data_markup(agent['rationale'])}"
        )
    console.print(f"plan sha256 {data_markup(run.plan_hash)}")
    if run.status == RunStatus.proposed:
        console.print(f"expires {row['expires_at']}")
    console.print("[bold]Steps[/]")
    for index, step in enumerate(run.plan.get("steps", []), start=1):
        details = ", ".join(f"{k}={_brief(v)}" for k, v in sorted(step.get("details", {}).items()))
        action, target = data_markup(step["action"]), data_markup(step["target"])
        console.print(f"  {index}. {action} {target}  [dim]{data_markup(details)}[/]")
    for decision in decisions:
        note = f": {decision.reason}" if decision.reason else ""
        said = f"{decision.decision} by {decision.actor} via {decision.via}"
        console.print(f"{data_markup(said)} at {decision.at.isoformat()}{data_markup(note)}")


def _agent_proposal(session: Any, run: PlaybookRun) -> dict[str, Any] | None:
    """The agent's rationale and confidence for `run` (its `agent.proposed` event)."""
    from sqlmodel import select

    from daemon.store.models import AuditEvent

    events = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "agent.proposed", AuditEvent.entity_id == str(run.incident_id)
        )
    ).all()
    for event in events:
        if event.payload.get("run_id") == run.id:
            return {
                "rationale": event.payload.get("rationale"),
                "confidence": event.payload.get("confidence"),
                "thread_id": event.payload.get("thread_id"),
            }
    return None


@app.command("execute")
def execute_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Execute every approved run now: apply, verify, then resolve or roll back.

    `warden run` does this by itself every few seconds.
    """
    from daemon.remediation.executor import execute_approved  # deferred: engines load here

    loaded = load(config)
    store = store_for(loaded)
    try:
        outcomes = execute_approved(store, loaded, identity=f"cli:{getpass.getuser()}")
    finally:
        store.close()
    rows = [{"run": o.run_id, "status": o.status, "message": o.message} for o in outcomes]
    if as_json:
        print_json_lines(rows)
        return
    if not rows:
        console.print("No approved run is waiting.")
    for row in rows:
        console.print(
            f"run {row['run']}: {styled_status(str(row['status']))}  {data_markup(row['message'])}"
        )


@app.command("plan")
def plan_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Plan the proposals that scans queued and that are due now.

    A scan that routes an incident to a playbook only queues its proposal; `warden scan`
    plans its own before it exits and `warden run` plans the queue every few seconds. This
    plans what is left: proposals whose planning failed and is due for a retry, and those a
    crashed scan or daemon left behind. JSON: one object per request (`request_id`,
    `incident_id`, `status`, `run_id`, `message`).
    """
    from daemon.remediation.proposal_queue import plan_pending  # deferred: engines load here

    loaded = load(config)
    store = store_for(loaded)
    try:
        with console.status("planning...", spinner="dots") if not as_json else nullcontext():
            outcomes = plan_pending(store, loaded, identity=new_identity())
    finally:
        store.close()
    if as_json:
        print_json_lines([outcome.to_dict() for outcome in outcomes])
        return
    if not outcomes:
        console.print("No proposal is waiting to be planned.")
    for outcome in outcomes:
        console.print(
            f"incident {outcome.incident_id}: {styled_status(outcome.status)}  "
            f"{data_markup(outcome.message)}"
        )


#: Items of a list shown inline by `runs show` (a label batch lists 200 row ids).
SHOWN_ITEMS = 3


def _brief(value: object) -> object:
    """A long list as its first SHOWN_ITEMS items and how many there are in all (`--json`
    shows every one): the plan a person approves stays readable."""
    if isinstance(value, list) and len(value) > SHOWN_ITEMS + 1:
        shown = ", ".join(str(item) for item in value[:SHOWN_ITEMS])
        return f"[{shown}, … {len(value)} in all; --json lists them]"
    return value


def _decide(
    config: str | None, run_id: int, decision: str, actor: str | None, reason: str | None
) -> None:
    # Deferred: planning loads the engines and the playbooks.
    from daemon.remediation.approvals import DecisionRefused, decide, plan_again

    loaded = load(config)
    store = store_for(loaded)
    replanned = plan_again(store, loaded, run_id) if decision == "approve" else None
    try:
        with store.session() as session:
            outcome = decide(
                session,
                loaded,
                run_id,
                decision,  # type: ignore[arg-type]
                actor=actor or getpass.getuser(),
                via="cli",
                reason=reason,
                replanned=replanned,
            )
    except DecisionRefused as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    if decision == "approve" and outcome.status == RunStatus.expired:
        # Nothing was approved (the plan changed, or the run had expired): say so and exit
        # non-zero like every other refusal; what the refusal recorded is committed.
        raise UsageProblem(outcome.message)
    console.print(data_markup(outcome.message))


def approve(
    run_id: RunArgument,
    config: ConfigOption = None,
    actor: ActorOption = None,
    reason: Annotated[str | None, typer.Option(help="A note for the audit trail.")] = None,
) -> None:
    """Approve a proposed run, bound to its plan hash.

    The plan is made again now: if its hash changed, the approval is refused and the run
    needs a new one.
    """
    _decide(config, run_id, "approve", actor, reason)


def reject(
    run_id: RunArgument,
    reason: Annotated[str, typer.Option(help="Why (required).", show_default=False)],
    config: ConfigOption = None,
    actor: ActorOption = None,
) -> None:
    """Reject a proposed run, with a reason."""
    _decide(config, run_id, "reject", actor, reason)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="runs")
    root.command()(approve)
    root.command()(reject)

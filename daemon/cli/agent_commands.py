"""`warden agent propose`: ask the agent for a fix of one incident, by hand."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from daemon.cli.common import ConfigOption, JsonOption, UsageProblem, console, load, store_for
from daemon.cli.safe_text import data_markup

app = typer.Typer(
    help="The remediation agent (LLM): proposals a person approves, for incidents no route covers.",
    no_args_is_help=True,
)


@app.command()
def propose(
    incident: Annotated[int, typer.Argument(help="Incident id (from `warden incidents list`).")],
    config: ConfigOption = None,
    requested_by: Annotated[
        str | None,
        typer.Option("--as", metavar="USER", help="Who asks (default: your login)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask the agent to propose a fix for INCIDENT; it waits for a person's approval.

    Needs an `agent:` block in the config and the model's API key in the environment
    (`agent.api_key_env`, default OPENAI_API_KEY). You cannot be the only approver of a
    proposal you asked for.
    """
    from daemon.agent.service import AgentService, AgentUnavailable  # langgraph loads here

    loaded = load(config)
    store = store_for(loaded)
    who = requested_by or getpass.getuser()
    try:
        service = AgentService(store, loaded)
        with console.status("asking the model...", spinner="dots") if not as_json else _quiet():
            outcome = service.propose(incident, requested_by=who)
    except (AgentUnavailable, ValueError) as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    if as_json:
        print(
            json.dumps(
                {
                    "incident_id": outcome.incident_id,
                    "thread_id": outcome.thread_id,
                    "outcome": outcome.outcome,
                    "run_id": outcome.run_id,
                    "events": outcome.events,
                },
                default=str,
            )
        )
        return
    for event in outcome.events:
        kind = event["event"].removeprefix("agent.")
        detail = event.get("reason") or event.get("rationale") or ""
        if kind == "proposed":
            detail = f"run {event['run_id']}: {event['playbook']} {event['params']} — {detail}"
        console.print(f"[bold]{data_markup(kind)}[/] {data_markup(detail)}")
    if outcome.run_id is not None:
        console.print(f"run {outcome.run_id} waits for approval: warden runs show {outcome.run_id}")
    else:
        console.print(f"no proposal ({outcome.outcome}); the incident stays with a person")


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

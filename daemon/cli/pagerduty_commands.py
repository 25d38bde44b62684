"""`warden pagerduty test`: check the PagerDuty setup against PagerDuty itself
(`daemon.paging.setup_check`)."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    print_json_lines,
)
from daemon.cli.safe_text import data_markup

app = typer.Typer(help="PagerDuty: check the routing key.", no_args_is_help=True)

#: Exit code when PagerDuty did not take an event (the setup needs a change).
EXIT_FAILED = 1


@app.command("test")
def test_command(
    config: ConfigOption = None,
    trigger: Annotated[
        bool,
        typer.Option(
            "--trigger",
            help="Trigger a real info alert and resolve it at once (it may notify the "
            "on-call person) instead of sending a change event, which pages nobody.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send PagerDuty a test event with the configured routing key: a change event by
    default (shown on the service, pages nobody). Exit 1 when PagerDuty did not take it,
    with its answer."""
    from daemon.paging.setup_check import run_page_checks

    loaded = load(config)
    if loaded.pagerduty is None:
        raise UsageProblem("the config has no pagerduty block: nothing to test")
    checks = run_page_checks(loaded.pagerduty, trigger=trigger)
    if as_json:
        print_json_lines([check.to_dict() for check in checks])
    else:
        for check in checks:
            mark = "[green]ok[/]" if check.ok else "[red]failed[/]"
            console.print(f"{check.name}: {mark} {data_markup(check.detail)}")
    if not all(check.ok for check in checks):
        raise typer.Exit(EXIT_FAILED)

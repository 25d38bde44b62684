"""`warden slack test`: check the Slack setup against Slack itself (`daemon.slack.setup_check`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    print_json_lines,
)
from daemon.cli.safe_text import data_markup

app = typer.Typer(help="Slack: check the app's setup.", no_args_is_help=True)

#: Exit code when a check failed (the setup needs a change).
EXIT_FAILED = 1


@app.command("test")
def test_command(
    config: ConfigOption = None,
    no_post: Annotated[
        bool, typer.Option("--no-post", help="Check without posting a test message.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the Slack setup: the bot token, its scopes, that the bot is in the default,
    route and escalation channels, that approver and mentioned user groups exist, and post
    a test message. Exit 1 when a check failed, with what to change."""
    from daemon.slack.service import web_client
    from daemon.slack.setup_check import failed, run_checks

    loaded = load(config)
    if loaded.slack is None or loaded.slack.bot_token is None:
        raise UsageProblem("the config has no slack block with a bot_token: nothing to test")
    checks = run_checks(web_client(loaded.slack), loaded, post=not no_post)
    if as_json:
        print_json_lines([check.to_dict() for check in checks])
    else:
        table = Table(title="Slack setup")
        for header in ("check", "outcome", "detail", "what to do"):
            table.add_column(header, overflow="fold")
        colours = {"ok": "green", "warning": "yellow", "failed": "red"}
        for check in checks:
            table.add_row(
                data_markup(check.name),
                f"[{colours[check.outcome]}]{check.outcome}[/]",
                data_markup(check.detail),
                data_markup(check.fix),
            )
        console.print(table)
    if failed(checks):
        raise typer.Exit(EXIT_FAILED)

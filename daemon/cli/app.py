"""The `warden` command line: one Typer app, commands in their own modules.

`main()` is the single error boundary: config, store and data errors print one paragraph
and exit 2; an unexpected error prints its type and message (the traceback only with
WARDEN_DEBUG=1), never a raw traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from daemon.cli import (
    agent_commands,
    audit_commands,
    config_commands,
    demo_command,
    incident_actions,
    incident_show,
    incidents_commands,
    lineage_commands,
    metrics_commands,
    pagerduty_commands,
    quarantine_commands,
    report_command,
    run_command,
    runs_commands,
    scan_command,
    silences_commands,
    slack_commands,
    tokens_commands,
    versions_commands,
)
from daemon.cli.common import UsageProblem, err_console
from daemon.cli.safe_text import data_markup
from daemon.config.errors import ConfigError
from daemon.store.errors import StoreError
from detectors.sources.errors import SourceError


def _hide_flag_placeholder() -> None:
    """Typer (0.29) prints a `<bool>` type placeholder after every flag in its rich help,
    `--help` included; its plain help does not. Show none for flags."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_warden_patched", False):
        return

    def display_type_rich(self: TyperOption, ctx: object) -> object:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._warden_patched = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign,assignment]


_hide_flag_placeholder()

app = typer.Typer(
    name="warden",
    help="Warden keeps the data behind ML models healthy: drift, freshness and quality "
    "monitors, incidents, and remediation playbooks approved by a person.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
config_commands.register(app)
scan_command.register(app)
run_command.register(app)
demo_command.register(app)
report_command.register(app)
incident_actions.register(incidents_commands.app)
incident_show.register(incidents_commands.app)
app.add_typer(incidents_commands.app, name="incidents")
app.add_typer(silences_commands.app, name="silences")
app.add_typer(audit_commands.app, name="audit")
runs_commands.register(app)
app.add_typer(quarantine_commands.app, name="quarantine")
app.add_typer(agent_commands.app, name="agent")
app.add_typer(tokens_commands.app, name="tokens")
app.add_typer(versions_commands.app, name="versions")
app.add_typer(lineage_commands.app, name="lineage")
app.add_typer(metrics_commands.app, name="metrics")
app.add_typer(slack_commands.app, name="slack")
app.add_typer(pagerduty_commands.app, name="pagerduty")

EXIT_USAGE = 2


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("WARDEN_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app()
    except ConfigError as error:
        err_console.print(
            f"[bold red]Config error.[/] {data_markup(error)}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_USAGE)
    except (StoreError, SourceError, UsageProblem) as error:
        label = {
            StoreError: "Store error.",
            SourceError: "Data error.",
            UsageProblem: "Usage error.",
        }[type(error)]
        err_console.print(
            f"[bold red]{label}[/] {data_markup(error)}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    except Exception as error:
        if os.environ.get("WARDEN_DEBUG"):
            raise
        err_console.print(
            f"[bold red]Internal error[/] ({type(error).__name__}): {data_markup(error)}\n"
            "This is a bug in Warden; run again with WARDEN_DEBUG=1 for the traceback "
            "and report it.",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()

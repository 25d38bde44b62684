"""`warden demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import console


def demo(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder for the demo's data, config and store (nothing is written outside it)."
        ),
    ] = Path("warden-demo"),
) -> None:
    """Tell Warden's story in a minute: seeded data with injected faults, scans, incidents."""
    from daemon.demo.story import run_demo  # deferred: keeps `warden --help` fast

    run_demo(folder, console)


def register(app: typer.Typer) -> None:
    app.command()(demo)

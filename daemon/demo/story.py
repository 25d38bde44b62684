"""`warden demo`: generate data, write a config, replay two weeks of daily scans, explain.

Everything is written inside the demo folder: the data, the config and the SQLite store.
A folder from an earlier demo (marked by `.warden-demo`) is refreshed; any other non-empty
folder is refused, so the demo never overwrites someone's files.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daemon.cli.common import UsageProblem, status_style
from daemon.config import load_config
from daemon.demo.config_text import demo_config
from daemon.demo.data import (
    DRIFT_FROM,
    LAST_DAY,
    MISSING_DAY,
    NULL_SPIKE_DAY,
    REFERENCE_END,
    generate,
)
from daemon.demo.photo_quarantine import quarantine_photos
from daemon.demo.photos import available, generate_photos
from daemon.remediation.proposal_queue import plan_pending
from daemon.reporting.queries import IncidentFilter, incident_row, list_incidents
from daemon.scan import ScanReport, run_scan, sync_monitors
from daemon.store.engine import open_store

MARKER = ".warden-demo"
FIRST_SCAN = datetime(
    REFERENCE_END.year, REFERENCE_END.month, REFERENCE_END.day, tzinfo=UTC
) + timedelta(days=2)
LAST_SCAN = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=UTC) + timedelta(days=1)


@dataclass
class DemoOutcome:
    folder: Path
    config_path: Path
    reports: list[ScanReport] = field(default_factory=list)


def warden_command() -> str:
    """How to call `warden` from here: the bare name when it is on PATH, else its path
    (after `make demo` it lives in .venv/bin, which is not on PATH until activated)."""
    executable = Path(sys.argv[0]).resolve()
    on_path = shutil.which("warden")
    if on_path and Path(on_path).resolve() == executable:
        return "warden"
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return str(executable)


def prepare_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageProblem(f"{folder} exists and is not a folder; choose another demo folder")
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise UsageProblem(
                f"{folder} is not empty and was not made by `warden demo`; "
                "choose an empty or new folder"
            )
        for name in (
            "data",
            "warden.yaml",
            "warden.db",
            "warden.db-wal",
            "warden.db-shm",
            "warden-work",
        ):
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(
        "This folder was written by `warden demo`; it may be refreshed by the next demo.\n"
    )


def run_demo(folder: Path, console: Console) -> DemoOutcome:
    prepare_folder(folder)
    console.rule("[bold]Warden demo")
    console.print(
        "A lender's model scores loan applications. "
        "Its features land as one Parquet partition per day.\n"
        f"January is clean. Then: [bold]{MISSING_DAY}[/] never arrives, "
        f"from [bold]{DRIFT_FROM}[/] salaries and regions drift,\n"
        f"and [bold]{NULL_SPIKE_DAY}[/] arrives with a third of its credit scores missing. "
        "Let's see what Warden makes of it.\n"
    )
    with console.status("writing the dataset..."):
        data = generate(folder / "data" / "loans")
    console.print(
        f"[green]✓[/] wrote {data.rows:,} rows in {data.days} daily partitions under {data.folder}"
    )
    with_photos = available()
    if with_photos:
        with console.status("drawing the pictures..."):
            photos = generate_photos(
                folder / "data" / "photos", FIRST_SCAN.date() - timedelta(days=1), LAST_DAY
            )
        console.print(
            f"[green]✓[/] drew {photos.files} pictures under {photos.folder}; on {LAST_DAY} an "
            f"upload was cut short ({photos.cut}), one picture was stored twice "
            f"({photos.copy}) and one again smaller ({photos.near_copy})"
        )
    else:
        console.print(
            "[yellow]![/] the image part of the demo needs the assets extra: "
            "pip install 'ml-warden[assets]'"
        )
    config_path = folder / "warden.yaml"
    config_path.write_text(demo_config(with_photos), encoding="utf-8")
    console.print(f"[green]✓[/] wrote the config {config_path}")
    config = load_config(config_path)
    store = open_store(config.store.url)
    sync_monitors(store, config)
    outcome = DemoOutcome(folder, config_path)
    days = []
    moment = FIRST_SCAN
    while moment <= LAST_SCAN:
        days.append(moment)
        moment += timedelta(days=1)
    console.print(
        f"\nReplaying {len(days)} daily scans at midnight UTC "
        f"({days[0].date()} → {days[-1].date()}), as the daemon would have run them:\n"
    )
    day_table = Table(show_header=True, header_style="bold")
    day_table.add_column("scan at")
    for monitor in config.monitors:
        day_table.add_column(monitor.name)
    day_table.add_column("incidents")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} scans"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("scanning", total=len(days) * len(config.monitors))
        for at in days:
            cells, notes = [], []
            for monitor in config.monitors:
                report = run_scan(config, monitor, at, store, claimed_by="demo")
                assert report is not None
                # As `warden scan` does: plan what the scan queued before the next one.
                plan_pending(store, config, identity="demo", incident_ids=report.routed)
                outcome.reports.append(report)
                patterns = sorted({f["pattern"] for f in report.findings if f["alert"]})
                cells.append(
                    f"[{status_style(report.status)}]{report.status}[/]"
                    + (f" {', '.join(patterns)}" if patterns else "")
                )
                notes += [f"opened #{i}" for i in report.opened] + [
                    f"resolved #{i}" for i in report.resolved
                ]
                progress.advance(task)
            day_table.add_row(at.date().isoformat(), *cells, ", ".join(notes) or "-")
    console.print(day_table)
    if with_photos:
        quarantine_photos(store, config, console)
    incidents = [incident_row(i) for i in list_incidents(store, IncidentFilter())]
    store.close()
    summary = Table(title="Incidents, and what Warden proposes", header_style="bold")
    for header in ("id", "group", "status", "pattern", "scope", "seen", "proposed action"):
        summary.add_column(header)
    for row in sorted(incidents, key=lambda r: r["id"]):
        scope = (
            ", ".join(row["columns"])
            or ", ".join(str(v)[:10] for v in row["scope"].values())
            or "-"
        )
        summary.add_row(
            str(row["id"]),
            str(row["group"] or "-"),
            f"[{status_style(row['status'])}]{row['status']}[/]",
            row["pattern"],
            scope,
            f"{row['occurrences']}x",
            _proposal(row),
        )
    console.print(summary)
    console.print(
        "\nOne incident per problem, not one per scan: repeated detections update it, "
        "two clean scans resolve it. Incidents one scan of a dataset opens together share a "
        "group (the three drifts, the pictures' three): with Slack, one message with each "
        "incident in its thread; with an escalation policy, one page.\n"
        f"On {MISSING_DAY + timedelta(days=1)} the empty window gives no verdict, and a day "
        "that has not arrived yet is only late; once the next day lands it is a hole.\n"
        "Each incident is routed to a playbook, which plans the repair (`warden runs list` "
        "shows the plans: files, sizes, checksums). A person approves with `warden approve "
        "RUN`; the daemon (or `warden runs execute`) applies it, checks the data again, and "
        "resolves the incident or rolls back. The missing day gets a synthetic backfill "
        "(kept outside the data, for training only), the drifts a batch of rows to "
        "relabel. Here the null spike cleared before anyone approved, so its proposal "
        "expired.\n"
    )
    if with_photos:
        console.print(
            "The pictures: the cut upload and the copy stored twice were moved under "
            f"{folder / 'warden-work' / 'quarantine'} (the original stays; `warden quarantine "
            "release INCIDENT` brings them back byte for byte), and the smaller copy waits "
            "for a person: a near copy may be a second shot on purpose.\n"
        )
    warden = warden_command()
    config_arg = f"--config {config_path}"
    console.print("[bold]Try next:[/]")
    for command in (
        f"{warden} incidents list {config_arg}",
        f"{warden} incidents show 1 {config_arg}",
        f"{warden} runs list {config_arg}",
        f"{warden} scan {config_arg} --at {LAST_SCAN.date()} --json",
        f"{warden} validate-config {config_path}",
    ):
        console.print(f"  {command}")
    return outcome


def _proposal(row: dict) -> str:
    """The routed playbook and its approval policy, short enough for the summary table."""
    route = row.get("route")
    if not isinstance(route, dict):
        return str(row["proposed_action"])
    if route.get("playbook") is None:
        return "notify only"
    return f"{route['playbook']} ({route['approval']} approval)"

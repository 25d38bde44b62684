"""Quarantine: move the files that hold a bad partition out of a file dataset; never delete.

For an incident scoped to a file (`corrupt_partition`, a per-file `schema_change`) the plan
moves that file; for a window-level incident (`null_spike`, `out_of_range`, skew) it moves
every Parquet file whose event-time range (from its footer statistics) overlaps the current
window. Files keep their path below the dataset's folder (hive folders included) under
`<work_root>/quarantine/incident-<id>/`, beside a manifest with each file's original path,
size and sha256, the incident and the plan hash. The manifest is written first, with status
`quarantining`, so a quarantine stopped half-way is listed and can be released. A plan
refuses symbolic links, files whose real path lies outside the dataset's folder, and two
files that would land on one destination; a move never overwrites (`files.py`). Moved
files are out of the dataset's folder, so every later read by Warden (or anyone) leaves them
out; `rollback` (`warden quarantine
release`) moves them back, byte-identical.

An asset dataset (`format: files`) moves the files its incident's findings name: broken
files, and the later copy of each duplicate pair, never the original it duplicates
(`playbooks/asset_quarantine.py`).

A table (PostgreSQL, DuckDB) has no files to move: its quarantine excludes the incident's
window instead, recorded in the table's database with a clean view
(`playbooks/sql_quarantine.py`); releasing lifts the exclusion. No row is changed.

A Delta Lake or Iceberg table changes by commits: its quarantine is a commit removing the
data files that hold the window's rows, its release a commit adding exactly them back
(`playbooks/version_quarantine.py`).

>>> QuarantineParams().max_files
100
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from detectors.profile_queries import window_filter
from detectors.sources.discovery import discover_files
from detectors.sources.errors import SourceError
from detectors.sources.file_schemas import read_parquet_schema
from detectors.sources.quarantine_table import QUARANTINE_TABLE
from playbooks.asset_quarantine import plan_asset_quarantine
from playbooks.base import (
    IncidentView,
    Plan,
    PlanRefused,
    PlanStep,
    Playbook,
    PlaybookContext,
    PlaybookParams,
)
from playbooks.files import move_file, write_durably
from playbooks.quarantine_moves import (
    MANIFEST,
    check_kept,
    dataset_root,
    files_plan,
    files_root,
    inside,
    kept_elsewhere,
    move_steps,
    quarantine_folder,
)
from playbooks.registry import register
from playbooks.sql_quarantine import (
    check_clean_view,
    check_column,
    check_identifier,
    clean_view_name,
    exclude_window,
    release_window,
)
from playbooks.version_quarantine import (
    apply_version_quarantine,
    is_version_quarantine,
    plan_version_quarantine,
    release_version_quarantine,
)
from playbooks.window_rows import window_bounds


class QuarantineParams(PlaybookParams):
    max_files: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Refuse to plan a quarantine of more files than this (a policy bound: "
        "a window-level problem touching thousands of files needs a person's look first).",
    )


@register
class Quarantine(Playbook):
    """Move the affected files of a file dataset into Warden's quarantine area."""

    name = "quarantine"
    Params = QuarantineParams
    example_params = ({}, {"max_files": 5})
    invalid_params = ({"max_files": 0}, {"unknown": True})

    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        assert isinstance(params, QuarantineParams)
        dataset = context.dataset
        if dataset.format in ("postgres", "duckdb"):
            return self._plan_table(incident, params, context)
        if dataset.format == "files":
            return plan_asset_quarantine(self.name, incident, params, context, params.max_files)
        if dataset.format in ("delta", "iceberg"):
            return plan_version_quarantine(self.name, incident, params, context, params.max_files)
        if dataset.format not in ("parquet", "csv"):
            raise PlanRefused(
                f"dataset {dataset.name!r} is a {dataset.format} dataset; quarantine moves "
                "files of parquet, csv and asset datasets, excludes windows of postgres "
                "and duckdb tables and removes files from delta and iceberg tables"
            )
        affected = sorted(self._affected_files(incident, context))
        if not affected:
            raise PlanRefused(
                f"no file of dataset {dataset.name!r} holds what incident {incident.id} "
                "is about; nothing to quarantine"
            )
        if len(affected) > params.max_files:
            raise PlanRefused(
                f"{len(affected)} files are affected, more than max_files={params.max_files}"
            )
        root = dataset_root(dataset.path)
        target = quarantine_folder(context, incident.id)
        steps, total = move_steps([(path, None, False) for path in affected], root, target)
        return files_plan(
            self.name,
            incident.id,
            params,
            steps,
            target,
            f"Move {len(affected)} file(s), {total:,} bytes, of dataset {dataset.name!r} "
            f"into {target}.",
        )

    def _plan_table(
        self, incident: IncidentView, params: QuarantineParams, context: PlaybookContext
    ) -> Plan:
        dataset = context.dataset
        try:
            check_identifier(dataset.table)
            check_column(dataset.time_column)
        except ValueError as error:
            raise PlanRefused(str(error)) from error
        window = incident.windows.get("current") or {}
        if incident.scope.get("path") or not window.get("start"):
            raise PlanRefused(
                f"incident {incident.id} is not about a window of table {dataset.table!r}; "
                "a table's quarantine excludes a time window"
            )
        start, end = window_bounds(window)
        with context.source() as source:
            window = window_filter(source.table, dataset.time_column, start, end)
            rows = int(window.count().execute())
        if rows == 0:
            raise PlanRefused(
                f"table {dataset.table!r} holds no rows in {start.isoformat()} .. "
                f"{end.isoformat()}; nothing to quarantine"
            )
        # Refused now, not at apply: an object Warden did not create holds the view's name.
        check_clean_view(dataset.format, dataset.url, dataset.table)
        target = quarantine_folder(context, incident.id)
        view = clean_view_name(dataset.table)
        exclude = PlanStep(
            "exclude_window",
            dataset.table,
            {
                "engine": dataset.format,
                "time_column": dataset.time_column,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "rows": rows,
                "view": view,
                # Only when set, so plans of timestamp columns keep their hashes.
                **({"time_format": dataset.time_format} if dataset.time_format else {}),
            },
        )
        return Plan(
            playbook=self.name,
            incident_id=incident.id,
            params=params.model_dump(),
            summary=(
                f"Exclude the {rows:,} rows of table {dataset.table!r} with {dataset.time_column} "
                f"in {start.isoformat()} .. {end.isoformat()}: record the window in "
                f"{QUARANTINE_TABLE} and keep the view {view} without it (Warden's reads leave "
                f"it out too). No row is changed or deleted; `warden quarantine release "
                f"{incident.id}` lifts the exclusion."
            ),
            steps=(exclude, PlanStep("write_manifest", str(target / MANIFEST), {"files": 0})),
        )

    def apply(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        if is_version_quarantine(plan):
            return apply_version_quarantine(plan, context)
        log = []
        manifest = Path(next(s.target for s in plan.steps if s.action == "write_manifest"))
        # Read once, before any move: the originals other quarantines keep in place.
        kept_by_others = kept_elsewhere(context.work_root, plan.incident_id)
        if any(step.action == "move" for step in plan.steps) and not manifest.exists():
            # The intent first: a quarantine stopped half-way is listed and releasable.
            write_durably(manifest, _manifest(plan, "quarantining"))
        for step in plan.steps:
            if step.action == "exclude_window":
                outcome = exclude_window(
                    step.details["engine"],
                    context.dataset.url,
                    table=step.target,
                    time_column=step.details["time_column"],
                    incident_id=plan.incident_id,
                    plan_hash=plan.hash,
                    start=datetime.fromisoformat(step.details["start"]),
                    end=datetime.fromisoformat(step.details["end"]),
                    rows=step.details["rows"],
                    time_format=step.details.get("time_format"),
                )
                log.append(
                    context.report(
                        {"action": "exclude_window", "target": step.target, "outcome": outcome}
                    )
                )
            elif step.action == "move":
                # Checked again now, not only when planned: a folder swapped for a link
                # since then must not lead the move outside the dataset.
                if Path(step.target).exists():
                    inside(Path(step.target), files_root(context.dataset))
                check_kept(step, kept_by_others)
                outcome = move_file(
                    Path(step.target), Path(step.details["to"]), step.details["sha256"]
                )
                log.append(
                    context.report({"action": "move", "target": step.target, "outcome": outcome})
                )
            elif step.action == "write_manifest":
                write_durably(Path(step.target), _manifest(plan, "quarantined"))
                log.append(context.report({"action": "write_manifest", "target": step.target}))
        return log

    def rollback(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        if is_version_quarantine(plan):
            return release_version_quarantine(plan, context)
        log = []
        for step in reversed(plan.steps):
            if step.action == "exclude_window":
                outcome = release_window(
                    step.details["engine"],
                    context.dataset.url,
                    table=step.target,
                    incident_id=plan.incident_id,
                    plan_hash=plan.hash,
                )
                log.append(
                    context.report(
                        {"action": "include_window", "target": step.target, "outcome": outcome}
                    )
                )
            if step.action != "move":
                continue
            original, quarantined = Path(step.target), Path(step.details["to"])
            if original.exists() and not quarantined.exists():
                # Never moved (apply stopped before it): nothing to undo, whatever it holds.
                outcome = "not moved"
            else:
                outcome = move_file(quarantined, original, step.details["sha256"])
            log.append(
                context.report({"action": "restore", "target": step.target, "outcome": outcome})
            )
        manifest = Path(next(s.target for s in plan.steps if s.action == "write_manifest"))
        if manifest.exists():  # written by apply: record the release
            write_durably(manifest, _manifest(plan, "released"))
            log.append(context.report({"action": "write_manifest", "target": str(manifest)}))
        return log

    def _affected_files(self, incident: IncidentView, context: PlaybookContext) -> set[Path]:
        dataset = context.dataset
        try:
            files = [Path(p) for p in discover_files(dataset.path, dataset.format)]  # type: ignore[arg-type]
        except SourceError as error:
            raise PlanRefused(str(error)) from error
        scoped = incident.scope.get("path")
        if scoped:
            wanted = Path(scoped).resolve()
            return {path for path in files if path.resolve() == wanted}
        window = incident.windows.get("current") or {}
        if not window.get("start") or not window.get("end"):
            raise PlanRefused(f"incident {incident.id} names neither a file nor a window")
        if dataset.format != "parquet":
            raise PlanRefused(
                "CSV files carry no time statistics, so the files of a window cannot be told "
                "apart; quarantine a CSV dataset's files by path (a file-level incident)"
            )
        start = datetime.fromisoformat(window["start"])
        end = datetime.fromisoformat(window["end"])
        affected = set()
        for path in files:
            try:
                schema = read_parquet_schema(str(path), dataset.time_column)
            except Exception:  # noqa: BLE001 - an unreadable file is its own incident
                continue
            if schema.overlaps(start, end):
                affected.add(path)
        return affected


def _manifest(plan: Plan, status: str) -> str:
    files = [
        {
            "original_path": step.target,
            "quarantined_path": step.details["to"],
            "sha256": step.details["sha256"],
            "bytes": step.details["bytes"],
            # The original left in place of a moved copy (asset pairs only).
            **({"keeps": step.details["keeps"]} if "keeps" in step.details else {}),
        }
        for step in plan.steps
        if step.action == "move"
    ]
    document: dict[str, Any] = {
        "schema_version": 1,
        "status": status,
        "incident_id": plan.incident_id,
        "plan_hash": plan.hash,
        "files": files,
    }
    for step in plan.steps:
        if step.action == "exclude_window":
            document["excluded_window"] = {"table": step.target, **step.details}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def read_manifests(work_root: Path) -> list[dict[str, Any]]:
    """Every quarantine's manifest under `work_root`, oldest incident first."""
    manifests = []
    for path in sorted((work_root / "quarantine").glob(f"incident-*/{MANIFEST}")):
        try:
            manifests.append({**json.loads(path.read_text()), "manifest": str(path)})
        except (OSError, ValueError):
            manifests.append({"manifest": str(path), "status": "unreadable manifest"})
    return sorted(manifests, key=lambda item: item.get("incident_id", 0))

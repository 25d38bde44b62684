"""Quarantine of a Delta Lake or Iceberg table: a commit that removes the data files
holding the incident's window, and a release that commits exactly them back.

The files are found where the data lives: DuckDB counts, per file of the current version,
the rows of the incident's window (`versioned.base.rows_in_window`), so only files holding
some of them are removed; their other rows go with them (the plan says how many). Nothing
is moved or deleted on disk: a removed file stays readable by time travel until the
table's own clean-up, and a release re-adds the same file records, so the table reads back
the same rows, whatever was appended since (unlike a restore of the whole table).

Apply and release are idempotent: each commit carries Warden's marker (`versioned.base`),
and a run that crashed after committing finds its commit instead of making another. A
manifest beside the other quarantines' (`warden quarantine list`) records the table, the
version before and after, and the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playbooks.base import (
    IncidentView,
    Plan,
    PlanRefused,
    PlanStep,
    PlaybookContext,
    PlaybookParams,
)
from playbooks.files import write_durably
from playbooks.quarantine_moves import MANIFEST, quarantine_folder
from playbooks.versioned.base import TableFile, marker, rows_in_window
from playbooks.versioned.open import versioned_table
from playbooks.window_rows import window_bounds

REMOVE_STEP = "remove_table_files"


def plan_version_quarantine(
    playbook: str,
    incident: IncidentView,
    params: PlaybookParams,
    context: PlaybookContext,
    max_files: int,
) -> Plan:
    dataset = context.dataset
    window = incident.windows.get("current") or {}
    if not window.get("start") or not window.get("end"):
        raise PlanRefused(
            f"incident {incident.id} is not about a time window of table {dataset.name!r}; "
            "a table's quarantine removes the files holding a window's rows"
        )
    start, end = window_bounds(window)
    table = versioned_table(dataset)
    try:
        version = table.current_version()
        files = table.files()
        counts = rows_in_window(
            files, dataset.time_column, start, end, hive=dataset.format == "delta"
        )
    except PlanRefused:
        raise
    except Exception as error:  # the table unreadable now: no plan, and the reason
        raise PlanRefused(f"table {dataset.name!r} cannot be read: {error}") from error
    affected = [item for item in files if item.path in counts]
    if not affected:
        raise PlanRefused(
            f"no data file of table {dataset.name!r} (version {version}) holds rows of "
            f"{start.isoformat()} .. {end.isoformat()}; nothing to quarantine"
        )
    if len(affected) > max_files:
        raise PlanRefused(f"{len(affected)} files are affected, more than max_files={max_files}")
    in_window = sum(counts.values())
    held = sum(item.rows for item in affected)
    target = quarantine_folder(context, incident.id)
    remove = PlanStep(
        REMOVE_STEP,
        dataset.name,
        {
            "format": dataset.format,
            "version_before": version,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "window_rows": in_window,
            "rows": held,
            "files": [item.to_dict() for item in affected],
        },
    )
    others = held - in_window
    return Plan(
        playbook=playbook,
        incident_id=incident.id,
        params=params.model_dump(),
        summary=(
            f"Commit to {dataset.format} table {dataset.name!r} (now version {version}) the "
            f"removal of {len(affected)} data file(s) holding the {in_window:,} rows of "
            f"{start.isoformat()} .. {end.isoformat()}"
            + (f" and {others:,} other rows" if others else "")
            + ". The files stay on disk (time travel still reads them); `warden quarantine "
            f"release {incident.id}` commits exactly them back."
        ),
        steps=(remove, PlanStep("write_manifest", str(target / MANIFEST), {"files": 0})),
    )


def apply_version_quarantine(plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
    step = _remove_step(plan)
    manifest = _manifest_path(plan)
    table = versioned_table(context.dataset)
    files = [TableFile.from_dict(item) for item in step.details["files"]]
    metadata = marker("quarantine", plan.incident_id, plan.hash)
    done = table.committed(metadata, since=step.details["version_before"])
    if done is None:
        write_durably(manifest, _manifest(plan, "quarantining", None))
        after = table.remove([item.path for item in files], metadata)
        outcome = "committed"
    else:
        after, outcome = done, "committed already"
    log = [
        context.report(
            {
                "action": REMOVE_STEP,
                "target": step.target,
                "outcome": outcome,
                "version_before": step.details["version_before"],
                "version_after": after,
                "files": len(files),
            }
        )
    ]
    write_durably(manifest, _manifest(plan, "quarantined", after))
    log.append(context.report({"action": "write_manifest", "target": str(manifest)}))
    return log


def release_version_quarantine(plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
    """Commit the removed files back (TableChanged when they cannot be: the reason)."""
    step = _remove_step(plan)
    manifest = _manifest_path(plan)
    table = versioned_table(context.dataset)
    since = step.details["version_before"]
    removed = table.committed(marker("quarantine", plan.incident_id, plan.hash), since=since)
    metadata = marker("release", plan.incident_id, plan.hash)
    if removed is None:
        outcome, after = "not removed", None  # apply stopped before its commit
    elif (done := table.committed(metadata, since=removed)) is not None:
        outcome, after = "committed already", done
    else:
        files = [TableFile.from_dict(item) for item in step.details["files"]]
        after, outcome = table.add(files, metadata), "committed"
    log = [
        context.report(
            {
                "action": "readd_table_files",
                "target": step.target,
                "outcome": outcome,
                "version_after": after,
            }
        )
    ]
    if manifest.exists():
        write_durably(manifest, _manifest(plan, "released", removed, released_as=after))
        log.append(context.report({"action": "write_manifest", "target": str(manifest)}))
    return log


def is_version_quarantine(plan: Plan) -> bool:
    return any(step.action == REMOVE_STEP for step in plan.steps)


def _remove_step(plan: Plan) -> PlanStep:
    return next(step for step in plan.steps if step.action == REMOVE_STEP)


def _manifest_path(plan: Plan) -> Path:
    return Path(next(s.target for s in plan.steps if s.action == "write_manifest"))


def _manifest(
    plan: Plan, status: str, version_after: str | None, *, released_as: str | None = None
) -> str:
    step = _remove_step(plan)
    document = {
        "schema_version": 1,
        "status": status,
        "incident_id": plan.incident_id,
        "plan_hash": plan.hash,
        "files": [],
        "table_files_removed": {
            "dataset": step.target,
            "format": step.details["format"],
            "version_before": step.details["version_before"],
            "version_after": version_after,
            "released_as": released_as,
            "rows": step.details["rows"],
            "paths": [item["path"] for item in step.details["files"]],
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"

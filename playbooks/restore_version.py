"""restore_version: return a Delta Lake or Iceberg table to an earlier version after a bad
write (a schema change, corrupt or wrong rows written as one commit).

- plan: the version to return to (`version`, else the one before the version the
  incident's detection read), what changes (files, rows, columns), and which later
  versions' changes are undone; refused when that version can no longer be read (its log
  cleaned up, its files vacuumed or expired), or is already current.
- apply: a Delta `RESTORE` commit (the table's history keeps every version) or, for
  Iceberg, the earlier snapshot made current (the snapshot log records it); refused when
  the table moved on since the plan, so an append made meanwhile is never dropped unseen.
- verify: the incident's monitor is evaluated again (the default).
- rollback: forward to the version it replaced, the same way.

Commits carry Warden's marker (`versioned.base`), so an apply or rollback that crashed
after committing does not commit twice.

>>> RestoreVersionParams(version="12").version
'12'
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from playbooks.base import (
    IncidentView,
    Plan,
    PlanRefused,
    PlanStep,
    Playbook,
    PlaybookContext,
    PlaybookParams,
)
from playbooks.registry import register
from playbooks.versioned.base import TableChanged, VersionedTable, marker
from playbooks.versioned.open import versioned_table

STEP = "restore_version"


class RestoreVersionParams(PlaybookParams):
    version: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The version to return to (a Delta version number, an Iceberg snapshot "
        "id); default: the version before the one the incident's detection read.",
    )


@register
class RestoreVersion(Playbook):
    """Return a Delta or Iceberg table to an earlier version."""

    name = "restore_version"
    Params = RestoreVersionParams
    example_params = ({}, {"version": "3"})
    invalid_params = ({"version": ""}, {"version": 3.5}, {"unknown": True})

    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        assert isinstance(params, RestoreVersionParams)
        dataset = context.dataset
        table = versioned_table(dataset)
        try:
            current = table.current_version()
            target = params.version or _before(table, incident)
            if target == current:
                raise PlanRefused(
                    f"version {target} of table {dataset.name!r} is its current version already"
                )
            if not table.has_version(target):
                raise PlanRefused(
                    f"table {dataset.name!r} has no readable version {target!r} (its log or "
                    "snapshots no longer hold it)"
                )
            now, then = table.files(), table.files(target)
        except PlanRefused:
            raise
        except Exception as error:  # the table unreadable now: no plan, and the reason
            raise PlanRefused(f"table {dataset.name!r} cannot be read: {error}") from error
        now_paths, then_paths = {f.path for f in now}, {f.path for f in then}
        back = sorted(then_paths - now_paths)
        gone = [f.path for f in then if f.path in back and not _exists(f.local_path)]
        if gone:
            raise PlanRefused(
                f"{len(gone)} data file(s) of version {target} no longer exist (vacuumed or "
                f"expired), first: {gone[0]}; the table cannot return to it"
            )
        rows_now, rows_then = sum(f.rows for f in now), sum(f.rows for f in then)
        step = PlanStep(
            STEP,
            dataset.name,
            {
                "format": dataset.format,
                "from_version": current,
                "to_version": target,
                "files_back": back,
                "files_out": sorted(now_paths - then_paths),
                "rows_from": rows_now,
                "rows_to": rows_then,
            },
        )
        return Plan(
            playbook=self.name,
            incident_id=incident.id,
            params=params.model_dump(),
            summary=(
                f"Return {dataset.format} table {dataset.name!r} from version {current} to "
                f"version {target}: {len(step.details['files_out'])} data file(s) leave it, "
                f"{len(back)} come back, rows {rows_now:,} -> {rows_then:,}. Every change "
                f"made after version {target} is undone; rollback goes forward to version "
                f"{current} again."
            ),
            steps=(step,),
        )

    def apply(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        step = plan.steps[0]
        table = versioned_table(context.dataset)
        before, target = step.details["from_version"], step.details["to_version"]
        metadata = marker("restore", plan.incident_id, plan.hash)
        done = _made(table, metadata, since=before, sign=target)
        if done is not None:
            now, outcome = done, "committed already"
        else:
            _still_at(table, before, context.dataset.name)
            now, outcome = table.restore(target, metadata), "committed"
        return [
            context.report(
                {"action": STEP, "target": step.target, "outcome": outcome, "version_now": now}
            )
        ]

    def rollback(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        step = plan.steps[0]
        table = versioned_table(context.dataset)
        before, target = step.details["from_version"], step.details["to_version"]
        if table.kind == "iceberg" and table.current_version() == before:
            now, outcome = before, "at the replaced version already"
        elif (
            restored := _made(
                table, marker("restore", plan.incident_id, plan.hash), since=before, sign=target
            )
        ) is None:
            now, outcome = table.current_version(), "not restored"  # apply never committed
        else:
            metadata = marker("restore_undone", plan.incident_id, plan.hash)
            done = _made(table, metadata, since=restored, sign=before)
            if done is not None:
                now, outcome = done, "committed already"
            else:
                _still_at(table, restored, context.dataset.name)
                now, outcome = table.restore(before, metadata), "committed"
        return [
            context.report(
                {
                    "action": "restore_undone",
                    "target": step.target,
                    "outcome": outcome,
                    "version_now": now,
                }
            )
        ]


def _before(table: VersionedTable, incident: IncidentView) -> str:
    """The version before the one the incident's detection read."""
    if incident.dataset_version is None:
        raise PlanRefused(
            f"incident {incident.id} names no dataset version; give the version to return "
            "to as the `version` param"
        )
    previous = table.previous(incident.dataset_version)
    if previous is None:
        raise PlanRefused(
            f"version {incident.dataset_version} is the table's first: there is no earlier "
            "version to return to"
        )
    return previous


def _made(table: VersionedTable, metadata: dict[str, str], *, since: str, sign: str) -> str | None:
    """The version a change marked `metadata` made after `since`, or None. An Iceberg
    table's current snapshot changes without a commit to carry the marker: there, being at
    `sign` (the version the change leads to) is the sign it was made."""
    if table.kind == "iceberg":
        return sign if table.current_version() == sign else None
    return table.committed(metadata, since=since)


def _still_at(table: VersionedTable, version: str, dataset: str) -> None:
    """Refuse to change a table that moved on from `version`: a restore would drop unseen
    what changed since."""
    current = table.current_version()
    if current != version:
        raise TableChanged(
            f"table {dataset!r} is at version {current} now, not {version} as planned: "
            "changing it would drop what changed since; plan again"
        )


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)

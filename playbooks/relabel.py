"""Relabel batch: pick up to N rows of the affected window for people to label.

The plan is made where the data lives (`engine_rows.py`, `selection.py`,
`label_issues.py`): the engine scores the rows of the incident's current window, gives an
id and a seeded random key (the tie-break) only to the rows that can be chosen, and returns
at most `batch_size` row ids, best first, plus aggregates such as bin counts; Python never
holds the window. The approval binds to exactly the listed ids; the same data and seed give
byte-identical ids, tasks and manifest on DuckDB, PostgreSQL and Spark.

Applying fetches only the planned rows (the row id `isin` the plan's ids) and writes,
under `<work_root>/relabel/incident-<id>/batch-<batch>/`:

- `tasks.jsonl`: one Label Studio task per line, `{"data": {...row..., "warden_row_id",
  "warden_batch"}, "meta": {...why it was chosen...}}` (import it into a project as JSON);
  a task of an asset dataset's file also names the file for Label Studio's Local Files
  storage (`playbooks/asset_tasks.py`: `"image": "/data/local-files/?d=..."`);
- `manifest.json`: incident, strategy, guideline version, seed, window, row ids, the plan
  hash and the tasks file's sha256;
- with a `label_studio` block in the config, the tasks are also created in that project,
  exactly once (`label_studio.py`), and `label_studio.json` records the import.

A batch does not fix the incident: a verified run hands the incident back to a person
with the batch, to resolve once the labels are in. Rolling back marks the batch withdrawn;
tasks already in Label Studio stay (people may have labelled them).

>>> RelabelParams().batch_size
200
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import ibis.expr.types as ir
from pydantic import Field, model_validator

from detectors.assets.walk import split_pattern
from detectors.profile_queries import window_filter
from playbooks.asset_tasks import file_reference
from playbooks.base import (
    IncidentView,
    Plan,
    PlanRefused,
    PlanStep,
    Playbook,
    PlaybookContext,
    PlaybookParams,
    Verification,
)
from playbooks.drift_density import select_drift_dense
from playbooks.engine_query import fetch_value
from playbooks.engine_rows import check_columns, fetch_rows
from playbooks.files import sha256_of, write_durably
from playbooks.label_issues import select_label_issues
from playbooks.label_studio import import_batch_once
from playbooks.registry import register
from playbooks.selection import (
    RowKeys,
    Selection,
    select_stratified,
    select_uncertain,
)
from playbooks.window_rows import window_bounds

TASKS, MANIFEST, RECEIPT = "tasks.jsonl", "manifest.json", "label_studio.json"


class RelabelParams(PlaybookParams):
    strategy: Literal["uncertainty", "drift_density", "stratified", "label_issues"] = Field(
        "drift_density",
        description="How rows are chosen (see playbooks/selection.py and label_issues.py).",
    )
    batch_size: int = Field(200, ge=1, le=10_000, description="Rows to select, at most.")
    seed: int = Field(0, ge=0, description="Seed of every random choice: same seed, same rows.")
    guideline_version: str = Field(
        "v1",
        min_length=1,
        max_length=64,
        description="Version of the labelling guidelines the labellers follow (recorded).",
    )
    id_column: str | None = Field(
        None, description="A column unique per row, used as the row id (default: content hash)."
    )
    probability_columns: tuple[str, ...] = Field(
        (),
        description="Class probability columns (one per class, each in [0, 1]), for "
        "`uncertainty` on multi-class models and for `label_issues`.",
    )
    class_values: tuple[str, ...] = Field(
        (),
        description="For `label_issues`: the label value (as text) of each probability "
        "column, in the same order as probability_columns.",
    )
    stratify_by: str | None = Field(
        None, description="Column whose values are the strata of `stratified` (default: time)."
    )
    max_window_rows: int = Field(
        1_000_000,
        ge=1,
        le=50_000_000,
        description="Deprecated and ignored: the plan runs in the engine and holds at most "
        "batch_size rows, whatever the window's size. Still accepted so configs load.",
    )

    @model_validator(mode="after")
    def _classes_match_columns(self) -> RelabelParams:
        if self.class_values and len(self.class_values) != len(self.probability_columns):
            raise ValueError(
                f"class_values names {len(self.class_values)} classes but "
                f"probability_columns has {len(self.probability_columns)} columns; give one "
                "class value per probability column, in the same order"
            )
        if len(set(self.class_values)) != len(self.class_values):
            raise ValueError("class_values must not repeat a class")
        if self.strategy == "label_issues" and len(self.class_values) < 2:
            raise ValueError(
                "the label_issues strategy needs probability_columns and class_values "
                "(one class per column, at least two)"
            )
        return self


def batch_folder(context: PlaybookContext, incident_id: int, batch: str) -> Path:
    return context.work_root / "relabel" / f"incident-{incident_id}" / f"batch-{batch}"


@register
class RelabelBatch(Playbook):
    """Select rows of the affected window for human labelling and write them as Label Studio
    tasks (and create them in Label Studio when configured)."""

    name = "relabel_batch"
    Params = RelabelParams
    example_params = (
        {},
        {"strategy": "stratified", "batch_size": 50, "seed": 7},
        {
            "strategy": "label_issues",
            "probability_columns": ["p_cat", "p_dog"],
            "class_values": ["cat", "dog"],
        },
    )
    invalid_params = (
        {"batch_size": 0},
        {"strategy": "random"},
        {"unknown": 1},
        {"strategy": "label_issues", "probability_columns": ["p_cat", "p_dog"]},
        {"probability_columns": ["p_cat", "p_dog"], "class_values": ["cat"]},
    )
    resolves_incident = False

    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        assert isinstance(params, RelabelParams)
        window = incident.windows.get("current") or {}
        start, end = window_bounds(window)
        columns = self._scored_columns(incident, params, context)
        time_column = context.dataset.time_column
        with context.source() as source:
            names = [*columns, time_column, params.id_column]
            check_columns(source.table, names, context.dataset.name)
            current = window_filter(source.table, time_column, start, end)
            rows_in_window = int(fetch_value(current.count()))
            if rows_in_window == 0:
                raise PlanRefused(f"the window of incident {incident.id} holds no rows to label")
            keys = RowKeys.for_window(current, params.id_column, params.seed)
            selection = self._select(incident, params, context, source.table, current, keys)
        row_ids = list(selection.row_ids)
        if not row_ids:
            raise PlanRefused(
                f"the {params.strategy} strategy finds no row to label in the window of "
                f"incident {incident.id}"
            )
        batch = _batch_id(incident.id, params, row_ids)
        folder = batch_folder(context, incident.id, batch)
        steps = [
            PlanStep(
                "select_rows",
                context.dataset.name,
                {
                    "strategy": params.strategy,
                    "seed": params.seed,
                    "window": {"start": window["start"], "end": window["end"]},
                    "rows_in_window": rows_in_window,
                    "columns_scored": columns,
                    "row_ids": row_ids,
                    "scores": [round(score, 6) for score in selection.scores],
                },
            ),
            PlanStep("write_tasks", str(folder / TASKS), {"tasks": len(row_ids), "batch": batch}),
            PlanStep("write_manifest", str(folder / MANIFEST), {}),
        ]
        studio = context.label_studio
        if studio is not None:
            steps.append(
                PlanStep(
                    "import_label_studio",
                    f"{studio.url}/projects/{studio.project}",
                    {"tasks": len(row_ids), "receipt": str(folder / RECEIPT)},
                )
            )
        where = (
            f" and create them in Label Studio project {studio.project} at {studio.url}"
            if studio
            else " (import the file into Label Studio as JSON)"
        )
        return Plan(
            playbook=self.name,
            incident_id=incident.id,
            params=params.model_dump(mode="json"),
            summary=(
                f"Select {len(row_ids)} of the {rows_in_window:,} rows of dataset "
                f"{context.dataset.name!r} in {window['start']} .. {window['end']} by "
                f"{params.strategy} (seed {params.seed}) for labelling under guidelines "
                f"{params.guideline_version}; write them as tasks to {folder / TASKS}{where}. "
                "The data itself is not changed."
            ),
            steps=tuple(steps),
        )

    def apply(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        _, tasks_step, manifest_step = plan.steps[:3]
        tasks = self._tasks(plan, context)
        text = "".join(_line(task) for task in tasks)
        tasks_path = Path(tasks_step.target)
        log = []
        if tasks_path.exists() and tasks_path.read_text(encoding="utf-8") == text:
            outcome = "already written"
        else:
            write_durably(tasks_path, text)
            outcome = "written"
        log.append(
            context.report({"action": "write_tasks", "target": str(tasks_path), "outcome": outcome})
        )
        manifest = _manifest(plan, "created", hashlib.sha256(text.encode()).hexdigest())
        write_durably(Path(manifest_step.target), manifest)
        log.append(context.report({"action": "write_manifest", "target": manifest_step.target}))
        for step in plan.steps[3:]:
            if step.action == "import_label_studio":
                if context.label_studio is None:
                    raise PlanRefused(
                        "the plan imports into Label Studio, which is no longer configured"
                    )
                outcome = import_batch_once(
                    context.label_studio,
                    tasks,
                    tasks_step.details["batch"],
                    Path(step.details["receipt"]),
                )
                log.append(
                    context.report(
                        {"action": "import_label_studio", "target": step.target, "outcome": outcome}
                    )
                )
        return log

    def verify(self, plan: Plan, context: PlaybookContext) -> Verification:
        tasks_step, manifest_step = plan.steps[1], plan.steps[2]
        tasks_path, manifest_path = Path(tasks_step.target), Path(manifest_step.target)
        if not tasks_path.exists() or not manifest_path.exists():
            return Verification(False, f"{tasks_path} or its manifest is missing")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("tasks_sha256") != sha256_of(tasks_path):
            return Verification(False, f"{tasks_path} does not match its manifest")
        count = sum(1 for _ in tasks_path.open(encoding="utf-8"))
        if count != tasks_step.details["tasks"]:
            return Verification(
                False, f"{tasks_path} holds {count} tasks, not {tasks_step.details['tasks']}"
            )
        for step in plan.steps[3:]:
            receipt = json.loads(Path(step.details["receipt"]).read_text())
            if receipt.get("status") != "imported":
                return Verification(False, f"the tasks were not imported into {step.target}")
            return Verification(
                True,
                f"{count} labelling tasks written to {tasks_path} and created in {step.target}",
            )
        return Verification(True, f"{count} labelling tasks written to {tasks_path}")

    def rollback(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        manifest_path = Path(plan.steps[2].target)
        log: list[dict[str, Any]] = []
        if manifest_path.exists():
            current = json.loads(manifest_path.read_text())
            write_durably(manifest_path, _manifest(plan, "withdrawn", current.get("tasks_sha256")))
            log.append({"action": "withdraw_batch", "target": str(manifest_path)})
        for step in plan.steps[3:]:
            log.append(
                {
                    "action": "keep_label_studio_tasks",
                    "target": step.target,
                    "outcome": "tasks already created stay in Label Studio (people may have "
                    f"labelled them); filter on warden_batch={plan.steps[1].details['batch']} "
                    "to remove them",
                }
            )
        return log

    def _scored_columns(
        self, incident: IncidentView, params: RelabelParams, context: PlaybookContext
    ) -> list[str]:
        if params.strategy == "drift_density":
            if not incident.columns:
                raise PlanRefused(
                    f"incident {incident.id} names no column, so drift_density has nothing to "
                    "score; use the stratified strategy"
                )
            return list(incident.columns)
        if params.strategy == "label_issues":
            if not context.dataset.label_column:
                raise PlanRefused(
                    f"dataset {context.dataset.name!r} has no label column (`roles.label`), "
                    "so label_issues has no given labels to check"
                )
            return [context.dataset.label_column, *params.probability_columns]
        if params.strategy == "uncertainty":
            if params.probability_columns:
                return list(params.probability_columns)
            return [context.dataset.prediction_column] if context.dataset.prediction_column else []
        return [params.stratify_by] if params.stratify_by else []

    def _select(
        self,
        incident: IncidentView,
        params: RelabelParams,
        context: PlaybookContext,
        table: ir.Table,
        current: ir.Table,
        keys: RowKeys,
    ) -> Selection:
        if params.strategy == "uncertainty":
            return select_uncertain(
                current,
                params.batch_size,
                keys=keys,
                prediction_column=context.dataset.prediction_column,
                probability_columns=params.probability_columns,
            )
        if params.strategy == "drift_density":
            start, end = window_bounds(incident.windows.get("reference") or {})
            reference = window_filter(table, context.dataset.time_column, start, end)
            return select_drift_dense(
                current,
                reference,
                incident.columns,
                params.batch_size,
                keys=keys,
                findings=incident.findings,
            )
        if params.strategy == "label_issues":
            return select_label_issues(
                current,
                params.batch_size,
                keys=keys,
                label_column=context.dataset.label_column,
                probability_columns=params.probability_columns,
                class_values=params.class_values,
            )
        return select_stratified(
            current,
            params.batch_size,
            keys=keys,
            stratify_by=params.stratify_by,
            time_column=context.dataset.time_column,
        )

    def _tasks(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        select, tasks_step = plan.steps[0], plan.steps[1]
        params = RelabelParams.model_validate(plan.params)
        wanted = select.details["row_ids"]
        start, end = window_bounds(select.details["window"])
        with context.source() as source:
            current = window_filter(source.table, context.dataset.time_column, start, end)
            by_id = fetch_rows(current, params.id_column, wanted)
        tasks = []
        for row_id, score in zip(wanted, select.details["scores"], strict=True):
            row = dict(by_id[row_id])
            if context.dataset.format == "files":  # the task shows the file itself
                root = str(split_pattern(context.dataset.path)[0])
                row.update(file_reference(root, row["path"], row.get("kind"), context.files_root))
            row["warden_batch"] = tasks_step.details["batch"]
            tasks.append(
                {
                    "data": row,
                    "meta": {
                        "warden_incident_id": plan.incident_id,
                        "strategy": select.details["strategy"],
                        "score": score,
                        "guideline_version": params.guideline_version,
                    },
                }
            )
        return tasks


def _batch_id(incident_id: int, params: RelabelParams, row_ids: list[str]) -> str:
    payload = json.dumps([incident_id, params.model_dump(mode="json"), row_ids], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _line(task: dict[str, Any]) -> str:
    return json.dumps(task, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _manifest(plan: Plan, status: str, tasks_sha256: str | None) -> str:
    select, tasks_step = plan.steps[0], plan.steps[1]
    document = {
        "schema_version": 1,
        "status": status,
        "incident_id": plan.incident_id,
        "plan_hash": plan.hash,
        "batch": tasks_step.details["batch"],
        "strategy": select.details["strategy"],
        "seed": select.details["seed"],
        "guideline_version": plan.params["guideline_version"],
        "window": select.details["window"],
        "row_ids": select.details["row_ids"],
        "tasks_file": tasks_step.target,
        "tasks_sha256": tasks_sha256,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"

"""Synthetic backfill: generate rows for a missing (or thin) partition, kept apart and marked.

For a `missing_partition` or `volume_drop` incident, the plan fits a Gaussian copula
(`copula.py`) on the `reference_buckets` buckets before the partition, planned where the
data lives (`synthetic_fit.py`): engine counts and category frequencies over the whole
reference plus a seeded, bounded sample (`sample_rows`, default 50,000) drawn by the engine,
so a 10M-row reference plans in seconds and memory is bounded by the sample. It decides how
many rows to generate: the median rows per non-empty reference bucket (missing partition)
or the shortfall against the usual volume (volume drop), or `rows` when given. The count is
then capped so that synthetic rows stay at most `max_synthetic_share` (default 10%) of the
`training_window` that ends with the partition, counting synthetic rows already written for
other incidents.

Identifier columns (the entity column, `id_column`, unique keys: `synthetic_ids.py`) are
never modelled: generated rows get fresh ids that no real row has (`syn-<incident>-<seed>-<n>`
for strings, negative numbers for integers), and verification leaves them out.

Applying writes one Parquet file, `<work_root>/synthetic/<dataset>/partition=<start>/
incident-<id>.parquet`, and its manifest `incident-<id>.manifest.json`. It is outside the
dataset's folder, so monitors never read it; training code reads it through
`synthetic_reader.read_split`, which adds it to training splits only (capped again at read
time) and never to evaluation splits. Every row carries its provenance: `is_synthetic`,
`synthetic_generator`, `synthetic_generator_version`, `synthetic_seed`,
`synthetic_incident_id`.

`verify` runs Warden's drift detector between the generated rows and the seeded reference
sample (identifiers left out): the backfill is verified when no column drifts and no real
row has taken one of the fresh ids. `rollback` moves the file into `rolled-back/` beside it
(nothing is deleted). A backfill does not bring the real data back, so a verified run hands
the incident back to a person.

>>> SyntheticBackfillParams().max_synthetic_share
0.1
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
from pydantic import Field

from detectors.params import Duration
from detectors.profile_queries import window_filter
from detectors.timeparse import parse_duration, parse_instant
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
from playbooks.engine_query import fetch_value
from playbooks.engine_rows import ROW_ID
from playbooks.files import move_file, sha256_of, write_durably
from playbooks.registry import register
from playbooks.synthetic_files import hive_keys, manifest_path, manifest_text, partition_folder

if TYPE_CHECKING:
    from playbooks.synthetic_fit import ReferenceFit

# The fitting, sampling and checking modules (pandas, PyArrow, SciPy) are imported by the
# methods that use them: importing `playbooks` registers every playbook, and planning a
# relabel or a quarantine should not load a data frame library it never uses.

PATTERNS = ("missing_partition", "volume_drop")


class SyntheticBackfillParams(PlaybookParams):
    seed: int = Field(
        0, ge=0, description="Seed of the sample and the generator: same seed, same rows."
    )
    rows: int | None = Field(
        None, ge=1, le=1_000_000, description="Rows to generate (default: the usual volume)."
    )
    reference_buckets: int = Field(
        7, ge=1, le=366, description="Buckets before the partition that the generator learns."
    )
    max_synthetic_share: float = Field(
        0.10,
        gt=0,
        le=0.5,
        description="Most synthetic rows may make of a training window (a policy bound).",
    )
    training_window: Duration = Field(
        default_factory=lambda: timedelta(days=30),
        description="The training window the share is measured on, ending with the partition.",
    )
    columns: tuple[str, ...] = Field(
        (), description="Columns to generate (default: every column but the time column)."
    )
    sample_rows: int = Field(
        50_000,
        ge=30,
        le=1_000_000,
        description="Rows of the seeded engine sample the generator's quantiles and "
        "correlations are fitted on (default 50,000); bounds the plan's memory.",
    )
    id_column: str | None = Field(
        None,
        description="A unique row id column: names the sample's rows and gets fresh ids "
        "(default: content hashes name the rows).",
    )
    max_reference_rows: int = Field(
        1_000_000,
        ge=30,
        le=50_000_000,
        description="Deprecated and ignored: the reference is no longer read whole, so "
        "its size does not bound a plan (`sample_rows` bounds memory). Still accepted so "
        "existing configs load.",
    )


@register
class SyntheticBackfill(Playbook):
    """Generate rows for a missing or thin partition from the reference (a seeded Gaussian
    copula), into a separate, marked partition that only training splits read."""

    name = "synthetic_backfill"
    Params = SyntheticBackfillParams
    example_params = ({}, {"seed": 3, "rows": 500, "max_synthetic_share": 0.05})
    invalid_params = (
        {"max_synthetic_share": 0.9},
        {"rows": 0},
        {"sample_rows": 10},
        {"unknown": 1},
    )
    resolves_incident = False

    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        assert isinstance(params, SyntheticBackfillParams)
        from playbooks.copula import GENERATOR, GENERATOR_VERSION
        from playbooks.synthetic_ids import fresh_ids
        from playbooks.synthetic_reader import synthetic_rows_between

        start, bucket, finding = self._partition(incident)
        end = start + bucket
        reference_window = {
            "start": (start - params.reference_buckets * bucket).isoformat(),
            "end": start.isoformat(),
        }
        window_start = end - params.training_window
        with context.source() as source:
            columns = self._columns(source.table, params, context)
            fitted = self._fit(source.table, context, reference_window, bucket, columns, params)
            wanted, basis = self._wanted_rows(incident, finding, params, fitted)
            real = self._real_rows(source.table, context, window_start, end)
            others = synthetic_rows_between(
                context, window_start, end, exclude_incident=incident.id
            )
            # n / (real + others + n) <= share, solved for n.
            share = params.max_synthetic_share
            allowed = int((share * (real + others) - others) // (1 - share))
            if allowed < 1:
                raise PlanRefused(
                    f"the training window {window_start.isoformat()} .. {end.isoformat()} "
                    f"holds {real:,} real and {others:,} synthetic rows; any more synthetic "
                    f"rows would exceed max_synthetic_share={share:g}"
                )
            rows = min(wanted, allowed)
            identifiers = {
                name: fresh_ids(
                    source.table, name, reason, incident_id=incident.id, seed=params.seed, rows=rows
                )
                for name, reason in sorted(fitted.identifiers.items())
            }
        target = partition_folder(context, start) / f"incident-{incident.id}.parquet"
        generate = PlanStep(
            "generate",
            str(target),
            {
                "rows": rows,
                "rows_wanted": wanted,
                "rows_basis": basis,
                "capped": rows < wanted,
                "partition": {"start": start.isoformat(), "end": end.isoformat()},
                "reference": {**reference_window, "rows": fitted.rows},
                "sample": {
                    "rows": len(fitted.sample),
                    "limit": params.sample_rows,
                    "row_ids": f"column {params.id_column}" if params.id_column else "content hash",
                },
                "training_window": {
                    "start": window_start.isoformat(),
                    "real_rows": real,
                    "other_synthetic_rows": others,
                    "max_synthetic_share": share,
                },
                "columns": list(fitted.modelled),
                "identifiers": identifiers,
                "generated_columns": columns,
                "fit_sha256": fitted.model.fingerprint(),
                "seed": params.seed,
                "generator": GENERATOR,
                "generator_version": GENERATOR_VERSION,
            },
        )
        manifest = PlanStep("write_manifest", str(manifest_path(target)), {})
        capped = (
            f" (capped from {wanted:,} by max_synthetic_share={share:g})" if rows < wanted else ""
        )
        fresh = f"; fresh ids in {', '.join(identifiers)}" if identifiers else ""
        return Plan(
            playbook=self.name,
            incident_id=incident.id,
            params=params.model_dump(mode="json"),
            summary=(
                f"Generate {rows:,} synthetic rows{capped} for dataset {context.dataset.name!r}'s "
                f"partition {start.isoformat()} .. {end.isoformat()} with a {GENERATOR} "
                f"(v{GENERATOR_VERSION}, seed {params.seed}) fitted on the {fitted.rows:,} rows "
                f"of the {params.reference_buckets} bucket(s) before it (engine counts and a "
                f"seeded sample of {len(fitted.sample):,} rows){fresh}; write them to {target}, "
                "outside the dataset, marked is_synthetic, for training splits only."
            ),
            steps=(generate, manifest),
        )

    def apply(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        generate, manifest_step = plan.steps
        target = Path(generate.target)
        content = self._generated_bytes(plan, context)
        if target.exists() and target.read_bytes() == content:
            outcome = "already written"
        else:
            write_durably(target, content)
            outcome = "written"
        generated = context.report(
            {
                "action": "generate",
                "target": str(target),
                "outcome": outcome,
                "rows": generate.details["rows"],
            }
        )
        write_durably(
            Path(manifest_step.target),
            manifest_text(plan, "written", hashlib.sha256(content).hexdigest()),
        )
        return [
            generated,
            context.report({"action": "write_manifest", "target": manifest_step.target}),
        ]

    def verify(self, plan: Plan, context: PlaybookContext) -> Verification:
        import pyarrow.parquet as pq

        from playbooks.synthetic_drift import drifted_columns
        from playbooks.synthetic_ids import still_fresh

        details = plan.steps[0].details
        target = Path(plan.steps[0].target)
        if not target.exists():
            return Verification(False, f"{target} is missing")
        generated = pq.read_table(target).to_pandas()
        if len(generated) != details["rows"]:
            return Verification(
                False, f"{target} holds {len(generated)} rows, not {details['rows']}"
            )
        with context.source() as source:
            fitted = self._refit(plan, source.table, context)
            taken = [
                name
                for name, spec in details["identifiers"].items()
                if not still_fresh(source.table, name, spec, len(generated))
            ]
        if taken:
            return Verification(
                False, f"real rows now carry some of the generated ids in {', '.join(taken)}"
            )
        drifted = drifted_columns(
            fitted.sample, generated, details["columns"], identifiers=list(details["identifiers"])
        )
        if drifted:
            return Verification(
                False, f"the generated rows drift from the reference in {', '.join(drifted)}"
            )
        return Verification(
            True,
            f"{len(generated):,} synthetic rows written to {target}; their ids are fresh "
            f"and, against a seeded sample of {len(fitted.sample):,} reference rows, no column "
            "drifts from the reference",
        )

    def rollback(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        generate, manifest_step = plan.steps
        target = Path(generate.target)
        aside = target.parent / "rolled-back" / target.name
        log: list[dict[str, Any]] = []
        if target.exists():
            outcome = move_file(target, aside, sha256_of(target))
            log.append(
                {"action": "set_aside", "target": str(target), "outcome": outcome, "to": str(aside)}
            )
        manifest = Path(manifest_step.target)
        if manifest.exists():
            current = json.loads(manifest.read_text())
            write_durably(manifest, manifest_text(plan, "rolled back", current.get("sha256")))
            log.append({"action": "write_manifest", "target": str(manifest)})
        return log

    def _partition(self, incident: IncidentView) -> tuple[datetime, timedelta, dict[str, Any]]:
        if incident.pattern not in PATTERNS or not incident.scope.get("partition"):
            raise PlanRefused(
                f"synthetic_backfill fills a partition ({', '.join(PATTERNS)}); incident "
                f"{incident.id} is a {incident.pattern} without one"
            )
        partition = incident.scope["partition"]
        finding = next(
            (
                f
                for f in incident.findings
                if (f.get("details") or {}).get("partition") == partition
            ),
            {},
        )
        bucket = (finding.get("details") or {}).get("bucket")
        if not bucket:
            raise PlanRefused(f"incident {incident.id} does not say how long its partition is")
        return parse_instant(partition), parse_duration(bucket), finding

    def _columns(
        self, table: ir.Table, params: SyntheticBackfillParams, context: PlaybookContext
    ) -> list[str]:
        """The columns generated rows have (besides time and provenance), dataset order."""
        from playbooks.synthetic_reader import PROVENANCE

        available = list(table.schema().names)
        named = [*params.columns, *([params.id_column] if params.id_column else [])]
        unknown = [name for name in named if name not in available]
        if unknown:
            raise PlanRefused(
                f"dataset {context.dataset.name!r} has no column(s) {', '.join(unknown)}; "
                f"it has {', '.join(available)}"
            )
        skip = {context.dataset.time_column, ROW_ID, *PROVENANCE, *hive_keys(context)}
        wanted = set(named) if params.columns else set(available)
        columns = [name for name in available if name in wanted and name not in skip]
        if not columns:
            raise PlanRefused(
                f"dataset {context.dataset.name!r} has no column to generate besides its time "
                "column"
            )
        return columns

    def _fit(
        self,
        table: ir.Table,
        context: PlaybookContext,
        reference: dict[str, Any],
        bucket: timedelta,
        columns: list[str],
        params: SyntheticBackfillParams,
    ) -> ReferenceFit:
        from playbooks.synthetic_fit import fit_reference

        return fit_reference(
            table,
            time_column=context.dataset.time_column,
            start=parse_instant(reference["start"]),
            end=parse_instant(reference["end"]),
            bucket=bucket,
            columns=columns,
            entity_column=context.dataset.entity_column,
            id_column=params.id_column,
            seed=params.seed,
            sample_rows=params.sample_rows,
        )

    def _refit(self, plan: Plan, table: ir.Table, context: PlaybookContext) -> ReferenceFit:
        """The fit again, as planned; RuntimeError when the reference changed since."""
        details = plan.steps[0].details
        params = SyntheticBackfillParams.model_validate(plan.params)
        partition = details["partition"]
        bucket = parse_instant(partition["end"]) - parse_instant(partition["start"])
        fitted = self._fit(
            table, context, details["reference"], bucket, details["generated_columns"], params
        )
        planned = details["reference"]["rows"]
        if fitted.rows != planned or fitted.model.fingerprint() != details["fit_sha256"]:
            raise RuntimeError(
                f"the reference window now holds {fitted.rows:,} rows (planned: {planned:,}) "
                "or other values; the data changed since the plan, so plan again"
            )
        return fitted

    def _wanted_rows(
        self,
        incident: IncidentView,
        finding: dict[str, Any],
        params: SyntheticBackfillParams,
        fitted: ReferenceFit,
    ) -> tuple[int, str]:
        if params.rows is not None:
            return params.rows, "rows param"
        details = finding.get("details") or {}
        if incident.pattern == "volume_drop" and "usual_rows" in details:
            shortfall = round(float(details["usual_rows"]) - float(details.get("rows", 0)))
            return max(1, shortfall), "usual volume minus the rows present"
        filled = [rows for rows in fitted.bucket_rows if rows]
        return max(1, int(statistics.median(filled))), "median rows per reference bucket"

    def _real_rows(
        self, table: ir.Table, context: PlaybookContext, start: datetime, end: datetime
    ) -> int:
        window = window_filter(table, context.dataset.time_column, start, end)
        return int(fetch_value(window.count()))

    def _generated_bytes(self, plan: Plan, context: PlaybookContext) -> bytes:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        from playbooks.copula import GENERATOR, GENERATOR_VERSION, sample
        from playbooks.synthetic_ids import fresh_values

        details = plan.steps[0].details
        with context.source() as source:
            fitted = self._refit(plan, source.table, context)
        rows = int(details["rows"])
        generated = sample(fitted.model, rows, int(details["seed"]))
        for name, spec in details["identifiers"].items():
            generated[name] = fresh_values(spec, rows)
        generated = generated[list(details["generated_columns"])]
        start = parse_instant(details["partition"]["start"])
        end = parse_instant(details["partition"]["end"])
        step = (end - start) / rows
        times = pd.Series([start + step * (i + 0.5) for i in range(rows)])
        generated.insert(0, context.dataset.time_column, pd.to_datetime(times, utc=True))
        generated["is_synthetic"] = True
        generated["synthetic_generator"] = GENERATOR
        generated["synthetic_generator_version"] = GENERATOR_VERSION
        generated["synthetic_seed"] = int(details["seed"])
        generated["synthetic_incident_id"] = plan.incident_id
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(generated, preserve_index=False), buffer)
        return buffer.getvalue()


__all__ = ["SyntheticBackfill", "SyntheticBackfillParams", "partition_folder"]

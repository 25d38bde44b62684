"""Synthetic backfill: generate rows for a missing (or thin) partition, kept apart and marked.

For a `missing_partition` or `volume_drop` incident, the plan fits a Gaussian copula
(`copula.py`) on the `reference_buckets` buckets before the partition and decides how many
rows to generate: the median rows per non-empty reference bucket (missing partition) or
the shortfall against the usual volume (volume drop), or `rows` when given. The count is
then capped so that synthetic rows stay at most `max_synthetic_share` (default 10%) of the
`training_window` that ends with the partition, counting synthetic rows already written for
other incidents.

Applying writes one Parquet file, `<work_root>/synthetic/<dataset>/partition=<start>/
incident-<id>.parquet`, and its manifest `incident-<id>.manifest.json`. It is outside the
dataset's folder, so monitors never read it; training code reads it through
`synthetic_reader.read_split`, which adds it to training splits only (capped again at read
time) and never to evaluation splits. Every row carries its provenance: `is_synthetic`,
`synthetic_generator`, `synthetic_generator_version`, `synthetic_seed`,
`synthetic_incident_id`.

`verify` runs Warden's drift detector between the generated rows and the reference rows:
the backfill is verified when no column drifts. `rollback` moves the file into
`rolled-back/` beside it (nothing is deleted). A backfill does not bring the real data
back, so a verified run hands the incident back to a person.

>>> SyntheticBackfillParams().max_synthetic_share
0.1
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from detectors.params import Duration
from detectors.sources.discovery import discover_files
from detectors.sources.errors import SourceError
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
from playbooks.copula import GENERATOR, GENERATOR_VERSION, fit, sample
from playbooks.files import move_file, sha256_of, write_durably
from playbooks.registry import register
from playbooks.synthetic_drift import drifted_columns
from playbooks.synthetic_reader import PROVENANCE, synthetic_files, synthetic_rows_between
from playbooks.window_rows import read_window

PATTERNS = ("missing_partition", "volume_drop")


class SyntheticBackfillParams(PlaybookParams):
    seed: int = Field(0, ge=0, description="Seed of the generator: same seed, same rows.")
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
    max_reference_rows: int = Field(
        1_000_000, ge=30, le=50_000_000, description="Refuse to fit on more rows than this."
    )


def manifest_path(target: Path) -> Path:
    """`incident-7.parquet` -> `incident-7.manifest.json`, beside it."""
    return target.with_name(target.stem + ".manifest.json")


def partition_folder(context: PlaybookContext, start: datetime) -> Path:
    stamp = start.strftime("%Y-%m-%dT%H-%M-%SZ")
    return context.work_root / "synthetic" / context.dataset.name / f"partition={stamp}"


@register
class SyntheticBackfill(Playbook):
    """Generate rows for a missing or thin partition from the reference (a seeded Gaussian
    copula), into a separate, marked partition that only training splits read."""

    name = "synthetic_backfill"
    Params = SyntheticBackfillParams
    example_params = ({}, {"seed": 3, "rows": 500, "max_synthetic_share": 0.05})
    invalid_params = ({"max_synthetic_share": 0.9}, {"rows": 0}, {"unknown": 1})
    resolves_incident = False

    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        assert isinstance(params, SyntheticBackfillParams)
        start, bucket, finding = self._partition(incident)
        end = start + bucket
        reference_window = {
            "start": (start - params.reference_buckets * bucket).isoformat(),
            "end": start.isoformat(),
        }
        reference = read_window(
            context,
            reference_window,
            columns=list(params.columns) or None,
            max_rows=params.max_reference_rows,
        )
        columns = self._columns(reference, params, context)
        if len(reference) < 30:
            raise PlanRefused(
                f"the {params.reference_buckets} bucket(s) before {start.isoformat()} hold "
                f"{len(reference)} rows; the generator needs at least 30 to learn from"
            )
        wanted, basis = self._wanted_rows(incident, finding, params, reference, context, bucket)
        window_start = end - params.training_window
        real = self._real_rows(context, window_start, end)
        others = synthetic_rows_between(context, window_start, end, exclude_incident=incident.id)
        # n / (real + others + n) <= share, solved for n.
        share = params.max_synthetic_share
        allowed = int((share * (real + others) - others) // (1 - share))
        if allowed < 1:
            raise PlanRefused(
                f"the training window {window_start.isoformat()} .. {end.isoformat()} holds "
                f"{real:,} real and {others:,} synthetic rows; any more synthetic rows would "
                f"exceed max_synthetic_share={share:g}"
            )
        rows = min(wanted, allowed)
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
                "reference": {**reference_window, "rows": len(reference)},
                "training_window": {
                    "start": window_start.isoformat(),
                    "real_rows": real,
                    "other_synthetic_rows": others,
                    "max_synthetic_share": share,
                },
                "columns": columns,
                "seed": params.seed,
                "generator": GENERATOR,
                "generator_version": GENERATOR_VERSION,
            },
        )
        manifest = PlanStep("write_manifest", str(manifest_path(target)), {})
        capped = (
            f" (capped from {wanted:,} by max_synthetic_share={share:g})" if rows < wanted else ""
        )
        return Plan(
            playbook=self.name,
            incident_id=incident.id,
            params=params.model_dump(mode="json"),
            summary=(
                f"Generate {rows:,} synthetic rows{capped} for dataset {context.dataset.name!r}'s "
                f"partition {start.isoformat()} .. {end.isoformat()} with a {GENERATOR} "
                f"(v{GENERATOR_VERSION}, seed {params.seed}) fitted on {len(reference):,} rows "
                f"of the {params.reference_buckets} bucket(s) before it; write them to {target}, "
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
            _manifest(plan, "written", hashlib.sha256(content).hexdigest()),
        )
        return [
            generated,
            context.report({"action": "write_manifest", "target": manifest_step.target}),
        ]

    def verify(self, plan: Plan, context: PlaybookContext) -> Verification:
        generate = plan.steps[0]
        target = Path(generate.target)
        if not target.exists():
            return Verification(False, f"{target} is missing")
        generated = pq.read_table(target).to_pandas()
        if len(generated) != generate.details["rows"]:
            return Verification(
                False, f"{target} holds {len(generated)} rows, not {generate.details['rows']}"
            )
        reference = read_window(
            context,
            generate.details["reference"],
            columns=generate.details["columns"],
            max_rows=plan.params["max_reference_rows"],
        )
        drifted = drifted_columns(reference, generated, generate.details["columns"])
        if drifted:
            return Verification(
                False, f"the generated rows drift from the reference in {', '.join(drifted)}"
            )
        return Verification(
            True,
            f"{len(generated):,} synthetic rows written to {target}; no column drifts from "
            "the reference",
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
            write_durably(manifest, _manifest(plan, "rolled back", current.get("sha256")))
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
        self, reference: pd.DataFrame, params: SyntheticBackfillParams, context: PlaybookContext
    ) -> list[str]:
        skip = {context.dataset.time_column, "warden_row_id", *PROVENANCE, *_hive_keys(context)}
        return [str(c) for c in reference.columns if c not in skip]

    def _wanted_rows(
        self,
        incident: IncidentView,
        finding: dict[str, Any],
        params: SyntheticBackfillParams,
        reference: pd.DataFrame,
        context: PlaybookContext,
        bucket: timedelta,
    ) -> tuple[int, str]:
        if params.rows is not None:
            return params.rows, "rows param"
        details = finding.get("details") or {}
        if incident.pattern == "volume_drop" and "usual_rows" in details:
            shortfall = round(float(details["usual_rows"]) - float(details.get("rows", 0)))
            return max(1, shortfall), "usual volume minus the rows present"
        times = pd.to_datetime(reference[context.dataset.time_column], utc=True)
        per_bucket = times.dt.floor(pd.Timedelta(bucket)).value_counts()
        return max(1, int(per_bucket.median())), "median rows per reference bucket"

    def _real_rows(self, context: PlaybookContext, start: datetime, end: datetime) -> int:
        from detectors.profiling import window_filter

        with context.source() as source:
            window = window_filter(source.table, context.dataset.time_column, start, end)
            return int(window.count().execute())

    def _generated_bytes(self, plan: Plan, context: PlaybookContext) -> bytes:
        generate = plan.steps[0]
        details = generate.details
        reference = read_window(
            context,
            details["reference"],
            columns=details["columns"],
            max_rows=plan.params["max_reference_rows"],
        )
        if len(reference) != details["reference"]["rows"]:
            raise RuntimeError(
                f"the reference window now holds {len(reference)} rows, not the planned "
                f"{details['reference']['rows']}; the data changed since the plan, so plan again"
            )
        rows = int(details["rows"])
        generated = sample(fit(reference, details["columns"]), rows, int(details["seed"]))
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


def _hive_keys(context: PlaybookContext) -> set[str]:
    """Columns that come from hive folder names (`date=2025-03-01/`): they say where a real
    file lives, so they are not generated."""
    if context.dataset.format not in ("parquet", "csv"):
        return set()
    try:
        files = discover_files(context.dataset.path, context.dataset.format)  # type: ignore[arg-type]
    except SourceError:
        return set()
    return {
        part.split("=", 1)[0] for path in files for part in Path(path).parts[:-1] if "=" in part
    }


def _manifest(plan: Plan, status: str, sha256: str | None) -> str:
    details = plan.steps[0].details
    document = {
        "schema_version": 1,
        "status": status,
        "incident_id": plan.incident_id,
        "plan_hash": plan.hash,
        "file": Path(plan.steps[0].target).name,
        "sha256": sha256,
        "rows": details["rows"],
        "partition": details["partition"],
        "reference": details["reference"],
        "generator": details["generator"],
        "generator_version": details["generator_version"],
        "seed": details["seed"],
        "columns": details["columns"],
        "max_synthetic_share": details["training_window"]["max_synthetic_share"],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


__all__ = ["SyntheticBackfill", "SyntheticBackfillParams", "partition_folder", "synthetic_files"]

"""Where a synthetic backfill writes, and the manifest it keeps beside its rows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from detectors.sources.discovery import discover_files
from detectors.sources.errors import SourceError
from playbooks.base import Plan, PlaybookContext


def manifest_path(target: Path) -> Path:
    """`incident-7.parquet` -> `incident-7.manifest.json`, beside it."""
    return target.with_name(target.stem + ".manifest.json")


def partition_folder(context: PlaybookContext, start: datetime) -> Path:
    stamp = start.strftime("%Y-%m-%dT%H-%M-%SZ")
    return context.work_root / "synthetic" / context.dataset.name / f"partition={stamp}"


def hive_keys(context: PlaybookContext) -> set[str]:
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


def manifest_text(plan: Plan, status: str, sha256: str | None) -> str:
    """The manifest beside a synthetic partition (schema 2: sample, fit and identifiers)."""
    details = plan.steps[0].details
    document = {
        "schema_version": 2,
        "status": status,
        "incident_id": plan.incident_id,
        "plan_hash": plan.hash,
        "file": Path(plan.steps[0].target).name,
        "sha256": sha256,
        "rows": details["rows"],
        "partition": details["partition"],
        "reference": details["reference"],
        "sample": details["sample"],
        "fit_sha256": details["fit_sha256"],
        "generator": details["generator"],
        "generator_version": details["generator_version"],
        "seed": details["seed"],
        "columns": details["columns"],
        "identifiers": details["identifiers"],
        "max_synthetic_share": details["training_window"]["max_synthetic_share"],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"

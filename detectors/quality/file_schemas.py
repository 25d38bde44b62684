"""Per-file schema changes: a partition whose own columns differ from the reference's.

The baseline is the most common schema among the files that overlap the reference window (or
among all files, when the reference is another dataset). Each file overlapping the current
window whose footer schema differs (a column missing, added or retyped) is one
`schema_change` finding scoped to that file's path, so the quarantine playbook can move
exactly that file. Files without time statistics cannot be placed in a window and are left
to the dataset-level schema check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from detectors.results import Finding
from detectors.sources.file_schemas import FileSchema

Bounds = tuple[datetime | None, datetime | None]


def file_schema_findings(
    files: Sequence[FileSchema], reference: Bounds, current: Bounds
) -> list[Finding]:
    pool = [f for f in files if f.overlaps(*reference)] or [f for f in files if f.start]
    if not pool:
        return []
    baseline_key, _ = Counter(frozenset(f.columns.items()) for f in pool).most_common(1)[0]
    baseline = dict(baseline_key)
    findings = []
    for file in files:
        if not file.overlaps(*current) or file.columns == baseline:
            continue
        missing = sorted(set(baseline) - set(file.columns))
        added = sorted(set(file.columns) - set(baseline))
        retyped = {
            name: {"reference_type": baseline[name], "file_type": file.columns[name]}
            for name in sorted(set(baseline) & set(file.columns))
            if baseline[name] != file.columns[name]
        }
        findings.append(
            Finding(
                "schema_change",
                None,
                "file_schema",
                float(len(missing) + len(added) + len(retyped)),
                0.0,
                True,
                details={"path": file.path, "missing": missing, "added": added, "retyped": retyped},
            )
        )
    return findings

"""A scan as an OpenLineage run event, built with `openlineage-python` (the `lineage`
extra).

The job is the monitor (namespace: `lineage.openlineage.namespace`, name: the monitor's
name); the run is the scan (a new UUIDv7 per scan, its scan time as the nominal time); the
dataset it read is the one input, with:

- `dataQualityAssertions`: one assertion per check the detector made (every finding,
  passing or failing): the pattern, its column, `success` false when it alerted, the
  statistic as `actual` and the threshold as `expected`;
- `dataQualityMetrics` (an input facet): the current window's row count and, per column,
  nulls, non-null count, minimum, maximum and distinct count (drift and quality monitors);
  the version's files and bytes where it has them;
- `version`: the dataset version the scan read (`detectors.versions`).

A scan that ended in `error` is a `FAIL` event with the message as `errorMessage`; every
other scan is `COMPLETE`. Events are serialised as OpenLineage's own `Serde` writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Who produced the events (OpenLineage wants a URI naming the producing software).
PRODUCER = "https://github.com/ml-warden/warden"


def scan_event(
    *,
    namespace: str,
    monitor: str,
    dataset: tuple[str, str],
    at: datetime,
    finished_at: datetime,
    status: str,
    message: str,
    findings: list[dict[str, Any]],
    metrics: dict[str, Any],
    version: dict[str, Any] | None,
) -> dict[str, Any]:
    """The run event of one scan, as a JSON-ready dict."""
    from openlineage.client import set_producer
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset as assertions_facet,
    )
    from openlineage.client.facet_v2 import (
        data_quality_metrics_input_dataset as metrics_facet,
    )
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        error_message_run,
        nominal_time_run,
    )
    from openlineage.client.serde import Serde
    from openlineage.client.uuid import generate_new_uuid

    set_producer(PRODUCER)
    assertions = [
        assertions_facet.Assertion(
            assertion=str(finding["pattern"]),
            success=not finding["alert"],
            column=finding.get("column"),
            name=finding.get("method"),
            expected=_text(finding.get("threshold")),
            actual=_text(finding.get("statistic")),
        )
        for finding in findings
    ]
    facets: dict[str, Any] = {
        "dataQualityAssertions": assertions_facet.DataQualityAssertionsDatasetFacet(
            assertions=assertions
        )
    }
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(version["version"])
        )
    columns = {
        name: metrics_facet.ColumnMetrics(
            nullCount=values.get("nulls"),
            distinctCount=values.get("distinct"),
            count=_number(values.get("count")),
            min=_number(values.get("min")),
            max=_number(values.get("max")),
        )
        for name, values in (metrics.get("columns") or {}).items()
    }
    details = (version or {}).get("details") or {}
    input_facets: dict[str, Any] = {
        "dataQualityMetrics": metrics_facet.DataQualityMetricsInputDatasetFacet(
            columnMetrics=columns,
            rowCount=metrics.get("rows"),
            bytes=details.get("bytes"),
            fileCount=details.get("file_count"),
        )
    }
    run_facets: dict[str, Any] = {
        "nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime=_iso(at))
    }
    if status == "error":
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python"
        )
    event = RunEvent(
        eventType=RunState.FAIL if status == "error" else RunState.COMPLETE,
        eventTime=_iso(finished_at),
        run=Run(runId=str(generate_new_uuid()), facets=run_facets),
        job=Job(namespace=namespace, name=monitor),
        producer=PRODUCER,
        inputs=[
            InputDataset(
                namespace=dataset[0], name=dataset[1], facets=facets, inputFacets=input_facets
            )
        ],
    )
    return dict(Serde.to_dict(event))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)

"""The OpenLineage run event (spec 2-0-2) as a strict pydantic model: what Warden checks
of an event it receives (`POST /api/lineage`), and of those it sends, in tests.

`openlineage-python` builds and serialises events but parses none, and ships its spec as
generated classes, not as a JSON Schema file; this model keeps the spec's required
fields and formats (`eventTime` an ISO 8601 time with its offset, `producer` and
`schemaURL` URIs, `run.runId` a UUID, job and dataset namespaces and names, every facet's
`_producer` and `_schemaURL`) and keeps facets' contents as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]
_NAME = Field(min_length=1, max_length=1000)


def _uri(value: str) -> str:
    scheme, sep, rest = value.partition(":")
    if not sep or not scheme or not rest or not scheme[0].isalpha():
        raise ValueError(f"{value!r} is not a URI")
    return value


def _facets(value: dict[str, Any]) -> dict[str, Any]:
    for name, facet in value.items():
        if not isinstance(facet, dict):
            raise ValueError(f"facet {name!r} is not an object")
        for key in ("_producer", "_schemaURL"):
            if not isinstance(facet.get(key), str):
                raise ValueError(f"facet {name!r} has no {key}")
            _uri(facet[key])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class RunRef(_Strict):
    runId: UUID
    facets: dict[str, Any] = Field(default_factory=dict)

    _check_facets = field_validator("facets")(_facets)


class JobRef(_Strict):
    namespace: str = _NAME
    name: str = _NAME
    facets: dict[str, Any] = Field(default_factory=dict)

    _check_facets = field_validator("facets")(_facets)


class DatasetRef(_Strict):
    namespace: str = _NAME
    name: str = _NAME
    facets: dict[str, Any] = Field(default_factory=dict)
    inputFacets: dict[str, Any] = Field(default_factory=dict)
    outputFacets: dict[str, Any] = Field(default_factory=dict)

    _check_facets = field_validator("facets", "inputFacets", "outputFacets")(_facets)

    def version(self) -> str | None:
        """The dataset version the event names (its `version` facet), if any."""
        facet = self.facets.get("version")
        value = facet.get("datasetVersion") if isinstance(facet, dict) else None
        return str(value) if isinstance(value, str | int) and str(value) else None


class OpenLineageRunEvent(_Strict):
    eventTime: datetime
    producer: str
    schemaURL: str
    eventType: EventType | None = None
    run: RunRef
    job: JobRef
    inputs: list[DatasetRef] = Field(default_factory=list, max_length=10_000)
    outputs: list[DatasetRef] = Field(default_factory=list, max_length=10_000)

    _check_uris = field_validator("producer", "schemaURL")(_uri)

    @field_validator("eventTime")
    @classmethod
    def _with_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("eventTime needs its UTC offset (like 2025-01-01T00:00:00Z)")
        return value

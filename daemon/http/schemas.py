"""The request and response bodies of the HTTP API, as OpenAPI describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from daemon.config.people import PERSON_NAME_PATTERN
from daemon.store.models import IncidentStatus


class DecisionRequest(BaseModel):
    as_: str | None = Field(
        None,
        alias="as",
        min_length=1,
        max_length=100,
        pattern=PERSON_NAME_PATTERN,
        description="Who decides (letters, digits, . _ @ + -), recorded as `api:<name>`, so "
        "it can never pass for a Slack user, the CLI or a policy. Required with the shared "
        "`http.api_token`. With a person's token it may be left out (the decision is "
        "recorded as `api:<person>`); given, it must name that person, else 403.",
    )
    reason: str | None = Field(None, description="Why; required to reject.")


class DecisionResponse(BaseModel):
    run_id: int
    status: str
    message: str
    new_run_id: int | None = None


class IncidentRow(BaseModel):
    """One incident as `warden incidents list --json` prints it
    (`daemon.reporting.queries.incident_row`).
    Times are ISO 8601 with their UTC offset; `first_seen` and `last_seen` are scan times."""

    id: int
    status: IncidentStatus
    severity: str = Field(description="info, warning or critical.")
    pattern: str = Field(description="The failure pattern, like null_spike or feature_drift.")
    dataset: str
    monitor: str
    scope: dict[str, Any] = Field(description="What the fingerprint covers beyond the pattern.")
    columns: list[str] = Field(description="The columns of its findings, sorted.")
    title: str
    occurrences: int = Field(description="Scans that found it.")
    first_seen: str
    last_seen: str
    resolved_at: str | None
    previous_incident_id: int | None = Field(description="The incident this one reopens.")
    proposed_action: str = Field(description="The routing decision in words.")
    route: dict[str, Any] | None = Field(description="The stored routing decision.")
    silenced_by: str | None
    group: int | None = Field(
        description="The incident group it was routed in (one Slack message, one page)."
    )
    acknowledged_at: str | None
    closed_at: str | None
    closed_reason: str | None
    false_alarm: bool


class IncidentList(BaseModel):
    incidents: list[IncidentRow] = Field(description="Newest first.")
    count: int = Field(description="How many are returned here (at most `limit`).")


class AuditRow(BaseModel):
    """One audit event (`daemon.reporting.queries.audit_row`); `at` is when it was recorded, and a
    scan's events carry the scan time as `payload.at`."""

    seq: int
    at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    payload: dict[str, Any]
    hash: str


class IncidentDetail(IncidentRow):
    evidence: dict[str, Any] = Field(description="The findings and the windows compared.")
    timeline: list[AuditRow] = Field(description="The audit events about it, oldest first.")


#: The approval API's body, described for OpenAPI (the endpoints parse it themselves, after
#: checking the token).
DECISION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DecisionRequest.model_json_schema()}},
    }
}
DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "The bearer token is missing, wrong or revoked"},
    403: {
        "description": "No token is configured (the approval API is off), or a person's "
        "token was sent with `as` naming someone else"
    },
    413: {"description": "The body is larger than 64 KiB"},
}

#: What the read-only API answers besides 200 and 422, for OpenAPI.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "A token is configured (`http.api_token`, or `warden tokens create`) "
        "and the bearer token is missing, wrong or revoked"
    }
}

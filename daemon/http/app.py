"""The FastAPI application of `warden run`.

Every request body is capped before it is read (`daemon.http.body_limit`: 64 KiB, 256 KiB
for `/slack/actions`); a larger one gets 413.

- `POST /slack/actions`: Slack's interactivity request URL. The signature (`X-Slack-Signature`,
  `X-Slack-Request-Timestamp`, at most 5 minutes old) is checked on the raw body before
  anything else; a forged, altered, expired or unsigned request gets 401 and nothing is
  written. A signed one that is malformed (no `payload` field, not JSON, or a Warden
  interaction with missing, mistyped or oversized fields: `daemon.slack.interactions`) gets
  400 and nothing is written. A valid one is spooled durably and acknowledged at once (empty
  200); the decision is taken on the processor thread. Retries (`X-Slack-Retry-Num`) are
  acknowledged the same way and acted on once (`daemon.slack.inbox`).
- `POST /api/runs/{id}/approve` and `/reject`: the approval API for people without Slack,
  with `Authorization: Bearer <http.api_token>`; the same rules as the CLI and Slack
  (`daemon.remediation.approvals.decide`). The token is checked before the body is parsed,
  so a caller without it learns nothing from a malformed body (401, not 422). Body:
  `{"as": "alice", "reason": "..."}`; the decision is recorded as `api:alice`. One token
  serves everyone who holds it, so under `two_person` the two names are the callers' word
  (as `--as` is on the CLI).
- `GET /api/incidents` and `GET /api/incidents/{id}`: incidents as JSON, read-only; the rows
  of `warden incidents list --json` (`daemon.reporting.queries.incident_row`), and for one incident
  also its evidence and its audit timeline. With `http.api_token` set they need the same
  bearer token as the approval API; without it they are open (they change nothing, and the
  server listens on 127.0.0.1 unless told otherwise), while the approval API answers 403.
- `GET /healthz` (the process serves and its scheduler beats), `GET /readyz`
  (`daemon.http.probes`: the store answers and accepts a write, the scheduler runs, Slack's
  socket is up, the Slack inbox keeps up), `GET /metrics` (Prometheus, `daemon.http.metrics`),
  `GET /incidents/{id}` (the incident's HTML report, linked from Slack; open, as a browser
  following a Slack link sends no token).
- `GET /docs` and `GET /openapi.json`: the API described (FastAPI's defaults).
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool

from daemon.config.models import WardenConfig
from daemon.http.body_limit import BodyLimit
from daemon.http.metrics import DaemonMetrics
from daemon.http.probes import DaemonState, readiness
from daemon.remediation.approvals import DecisionRefused, decide, plan_again
from daemon.reporting.html_report import render_incident_html
from daemon.reporting.queries import (
    IncidentFilter,
    audit_row,
    get_incident,
    incident_row,
    list_incidents,
)
from daemon.slack.interactions import MalformedInteraction
from daemon.slack.receiver import SlackReceiver
from daemon.store.engine import Store
from daemon.store.models import IncidentStatus


class DecisionRequest(BaseModel):
    as_: str = Field(
        alias="as",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._@+-]+$",
        description="Who decides (letters, digits, . _ @ + -); recorded as `api:<name>`, so "
        "it can never pass for a Slack user, the CLI or a policy.",
    )
    reason: str | None = Field(None, description="Why; required to reject.")


class DecisionResponse(BaseModel):
    run_id: int
    status: str
    message: str
    new_run_id: int | None = None


#: The approval API's body, described for OpenAPI (the endpoints parse it themselves, after
#: checking the token).
_DECISION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DecisionRequest.model_json_schema()}},
    }
}
_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "The bearer token is missing or wrong"},
    403: {"description": "The approval API is off (no `http.api_token`)"},
    413: {"description": "The body is larger than 64 KiB"},
}

#: What the read-only API answers besides 200 and 422, for OpenAPI.
_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "`http.api_token` is set and the bearer token is missing or wrong"}
}


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


def create_app(
    store: Store,
    config: WardenConfig,
    receiver: SlackReceiver | None,
    state: DaemonState | None = None,
) -> FastAPI:
    state = state or DaemonState()
    app = FastAPI(
        title="Warden",
        summary="Data health daemon for ML: incidents, approvals, Slack interactivity.",
    )
    app.add_middleware(BodyLimit)
    inbox = receiver.inbox if receiver is not None else None

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """The process is alive: it serves HTTP and its scheduler still beats (200), else
        503 (restart it). Busy scans or an unreachable store do not fail it: see /readyz."""
        problem = state.stuck()
        if problem is not None:
            return JSONResponse({"status": "stuck", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """The store answers and accepts a write, the scheduler runs, Slack's socket is up
        and the Slack inbox keeps up: 200, else 503 with what is wrong."""
        ready, checks = readiness(store, state, inbox)
        return JSONResponse(
            {"status": "ready" if ready else "degraded", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text format (`daemon.http.metrics`)."""
        registry = (state.metrics or DaemonMetrics(store)).registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/slack/actions", include_in_schema=False)
    async def slack_actions(request: Request) -> Response:
        body = await request.body()
        if receiver is None or not receiver.is_signed(body, request.headers):
            return Response("invalid or missing Slack signature", status_code=401)
        try:
            # A number too long for int() (over 4,300 digits) is a ValueError too.
            payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
        except (KeyError, IndexError, ValueError, UnicodeDecodeError):
            return Response("expected a form field `payload` holding JSON", status_code=400)
        if not isinstance(payload, dict):
            return Response("`payload` must be a JSON object", status_code=400)
        try:
            await run_in_threadpool(receiver.accept, payload, source="http")
        except MalformedInteraction as error:
            return Response(f"malformed interaction: {error}", status_code=400)
        return Response(status_code=200)

    @app.post(
        "/api/runs/{run_id}/approve",
        response_model=DecisionResponse,
        openapi_extra=_DECISION_BODY,
        responses=_DECISION_RESPONSES,
    )
    async def approve(
        run_id: int, request: Request, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        """Approve the run's current plan, as `as` (recorded as `api:<as>`)."""
        _authorise(config, authorization)
        decision = await _decision_request(request)
        return await run_in_threadpool(_decide, store, config, run_id, "approve", decision)

    @app.post(
        "/api/runs/{run_id}/reject",
        response_model=DecisionResponse,
        openapi_extra=_DECISION_BODY,
        responses=_DECISION_RESPONSES,
    )
    async def reject(
        run_id: int, request: Request, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        """Reject the run, as `as`, with a `reason`."""
        _authorise(config, authorization)
        decision = await _decision_request(request)
        return await run_in_threadpool(_decide, store, config, run_id, "reject", decision)

    @app.get("/api/incidents", response_model=IncidentList, responses=_READ_RESPONSES)
    def incidents_index(
        status: Annotated[
            list[str] | None,
            Query(
                description="Only these statuses: "
                f"{', '.join(s.value for s in IncidentStatus)}. Repeat the parameter or "
                "give a comma list (`?status=open,acknowledged`); an unknown one is a 422."
            ),
        ] = None,
        monitor: Annotated[str | None, Query(description="Only this monitor.")] = None,
        dataset: Annotated[str | None, Query(description="Only this dataset.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        """Incidents, newest first, as `warden incidents list --json` prints them.

        Read-only. With `http.api_token` set, send `Authorization: Bearer <token>` (else
        401); without it this endpoint is open.
        """
        _authorise_read(config, authorization)
        filters = IncidentFilter(
            status=_statuses(status), dataset=dataset, monitor=monitor, limit=limit
        )
        rows = [incident_row(incident) for incident in list_incidents(store, filters)]
        return {"incidents": rows, "count": len(rows)}

    @app.get(
        "/api/incidents/{incident_id}",
        response_model=IncidentDetail,
        responses={**_READ_RESPONSES, 404: {"description": "There is no such incident"}},
    )
    def incident_detail(
        incident_id: int, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        """One incident: its row (as in the list), its evidence and its timeline (the audit
        events about it, oldest first).

        Read-only. With `http.api_token` set, send `Authorization: Bearer <token>` (else
        401); without it this endpoint is open.
        """
        _authorise_read(config, authorization)
        incident, events = get_incident(store, incident_id)
        if incident is None:
            raise HTTPException(404, f"there is no incident {incident_id}")
        return {
            **incident_row(incident),
            "evidence": incident.evidence,
            "timeline": [audit_row(event) for event in events],
        }

    @app.get("/incidents/{incident_id}", response_class=HTMLResponse)
    def incident_report(incident_id: int) -> HTMLResponse:
        incident, events = get_incident(store, incident_id)
        if incident is None:
            raise HTTPException(404, f"there is no incident {incident_id}")
        return HTMLResponse(render_incident_html(incident, events))

    return app


async def _decision_request(request: Request) -> DecisionRequest:
    """The approval API's body, read (capped by `BodyLimit`) and validated only now, after
    the token: invalid JSON or fields are a 422 shaped like FastAPI's own."""
    body = await request.body()
    try:
        return DecisionRequest.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(
            [_body_error(item) for item in error.errors(include_url=False)]
        ) from None


def _body_error(item: Any) -> dict[str, Any]:
    """A pydantic error as FastAPI reports a body's, with undecodable input made text."""
    value = item.get("input")
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return {**item, "loc": ("body", *item["loc"]), "input": value}


def _authorise(config: WardenConfig, authorization: str | None) -> None:
    """The approval API: off (403) without `http.api_token`, else the bearer token."""
    token = _api_token(config)
    if token is None:
        raise HTTPException(403, "the approval API is off: set http.api_token in the config")
    _check_bearer(token, authorization)


def _authorise_read(config: WardenConfig, authorization: str | None) -> None:
    """The read-only API: open without `http.api_token`, else the same bearer token."""
    token = _api_token(config)
    if token is not None:
        _check_bearer(token, authorization)


def _api_token(config: WardenConfig) -> SecretStr | None:
    return config.http.api_token if config.http else None


def _check_bearer(token: SecretStr, authorization: str | None) -> None:
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def _statuses(values: list[str] | None) -> list[str] | None:
    """`?status=a&status=b` or `?status=a,b`, each an `IncidentStatus`; unknown ones are a
    422 shaped like FastAPI's own validation errors."""
    wanted = [part.strip() for value in values or [] for part in value.split(",")]
    wanted = [status for status in wanted if status]
    allowed = [status.value for status in IncidentStatus]
    unknown = [status for status in wanted if status not in allowed]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "enum",
                    "loc": ("query", "status"),
                    "msg": f"unknown status {', '.join(map(repr, unknown))}; "
                    f"use one of: {', '.join(allowed)}",
                    "input": values,
                }
            ]
        )
    return wanted or None


def _decide(
    store: Store, config: WardenConfig, run_id: int, decision: Any, request: DecisionRequest
) -> DecisionResponse:
    replanned = plan_again(store, config, run_id) if decision == "approve" else None
    try:
        with store.session() as session:
            outcome = decide(
                session,
                config,
                run_id,
                decision,
                actor=f"api:{request.as_}",
                via="api",
                reason=request.reason,
                replanned=replanned,
            )
    except DecisionRefused as error:
        status = 404 if "there is no run" in str(error) else 409
        raise HTTPException(status, str(error)) from None
    if outcome.status == "expired":
        # Nothing was decided: the proposal had expired, or its plan changed (new run).
        raise HTTPException(409, outcome.message)
    return DecisionResponse(
        run_id=outcome.run_id,
        status=outcome.status,
        message=outcome.message,
        new_run_id=outcome.new_run_id,
    )

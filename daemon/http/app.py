"""The FastAPI application of `warden run`.

Every request body is capped before it is read (`daemon.http.body_limit`: 64 KiB, 256 KiB
for `/slack/actions`); a larger one gets 413.

**Tokens** (`daemon.http.auth`). The API *needs a token* when `http.api_token` (one
shared token) is set or a person's token made with `warden tokens create NAME --person P`
is not revoked; then every endpoint below except `/slack/actions` (signed by Slack) and
those in `http.public_endpoints` (default healthz, readyz, metrics) needs
`Authorization: Bearer <token>`: a missing, wrong or revoked one gets 401. With no token
configured the reads are open and the approval API answers 403. A token is checked before
any body is read, so a caller without one learns nothing from a malformed body (401, not 422).

- `POST /slack/actions`: Slack's interactivity request URL. The signature (`X-Slack-Signature`,
  `X-Slack-Request-Timestamp`, at most 5 minutes old) is checked on the raw body before
  anything else; a forged, altered, expired or unsigned request gets 401 and nothing is
  written. A signed one that is malformed (no `payload` field, not JSON, or a Warden
  interaction with missing, mistyped or oversized fields: `daemon.slack.interactions`) gets
  400 and nothing is written. A valid one is spooled durably and acknowledged at once (empty
  200); the decision is taken on the processor thread. Retries (`X-Slack-Retry-Num`) are
  acknowledged the same way and acted on once (`daemon.slack.inbox`).
- `POST /api/runs/{id}/approve` and `/reject`: the approval API for people without Slack; the
  same rules as the CLI and Slack (`daemon.remediation.approvals.decide`). Body:
  `{"as": "alice", "reason": "..."}`. A person's token decides as `api:<person>` (`as` may
  be left out; naming someone else is 403). The shared `http.api_token` decides as
  `api:<as>`: one token serves everyone who holds it, so under `two_person` the two names
  are the callers' word (as `--as` is on the CLI); prefer a token per person. Under
  `two_person`, names the config's `people:` gives to one person count once
  (`daemon.config.people`).
- `POST /api/lineage`: OpenLineage run events of training and batch jobs (body at most
  1 MiB), recording which dataset versions each run read (`daemon.lineage.ingest`); needs
  a token like the approval API (403 while none is configured). Not a run event: 400, the
  reason kept in the audit trail. The same event again: 200, recorded once.
- `GET /api/incidents` and `GET /api/incidents/{id}`: incidents as JSON, read-only; the rows
  of `warden incidents list --json` (`daemon.reporting.queries.incident_row`), and for one
  incident also its evidence and its audit timeline.
- `GET /incidents/{id}`: the incident's HTML report, linked from Slack
  (`daemon.http.report_page`). While a token is needed it takes any valid bearer token or a
  signed, expiring link (`?exp=<unix seconds>&sig=<hex HMAC-SHA256>`,
  `daemon.reporting.report_links`), which is what Slack messages carry; an expired or
  forged link is 403, neither is 401. The page leaves out the daemon's host and pid.
- `GET /healthz` (the process serves and its scheduler beats), `GET /readyz`
  (`daemon.http.probes`: the store answers and accepts a write, the scheduler runs, Slack's
  socket is up, the Slack inbox keeps up), `GET /metrics` (Prometheus,
  `daemon.http.metrics`): open by default so probes and scrapers need no token.
- `GET /docs`, `GET /redoc` and `GET /openapi.json`: the API described; they need a token
  like the API unless `docs` is in `http.public_endpoints` (the description holds no data,
  but it maps what a caller could try).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from daemon.config.models import HttpConfig, PublicEndpoint, WardenConfig
from daemon.config.people import same_person
from daemon.http.auth import Authenticator, Caller
from daemon.http.body_limit import BodyLimit
from daemon.http.lineage_api import add_lineage_route
from daemon.http.metrics import DaemonMetrics
from daemon.http.probes import DaemonState, readiness
from daemon.http.report_page import report_response
from daemon.http.schemas import (  # AuditRow and IncidentRow are re-exported
    DECISION_BODY,
    DECISION_RESPONSES,
    READ_RESPONSES,
    AuditRow,
    DecisionRequest,
    DecisionResponse,
    IncidentDetail,
    IncidentList,
    IncidentRow,
)
from daemon.remediation.approvals import DecisionRefused, decide, plan_again
from daemon.reporting.queries import IncidentFilter, audit_row, get_incident, incident_row
from daemon.reporting.queries import list_incidents as query_incidents
from daemon.slack.interactions import MalformedInteraction
from daemon.slack.receiver import SlackReceiver
from daemon.store.engine import Store
from daemon.store.models import IncidentStatus

__all__ = ["AuditRow", "IncidentRow", "create_app"]


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
        # Served below, behind `http.public_endpoints`.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(BodyLimit)
    inbox = receiver.inbox if receiver is not None else None
    auth = Authenticator(store, config)
    public = set((config.http or HttpConfig()).public_endpoints)

    def gate(endpoint: PublicEndpoint, request: Request) -> None:
        """A token for `endpoint` while the API needs one, unless it is public."""
        if endpoint not in public:
            auth.require(request.headers.get("authorization"))

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        """The process is alive: it serves HTTP and its scheduler still beats (200), else
        503 (restart it). Busy scans or an unreachable store do not fail it: see /readyz."""
        gate("healthz", request)
        problem = state.stuck()
        if problem is not None:
            return JSONResponse({"status": "stuck", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        """The store answers and accepts a write, the scheduler runs, Slack's socket is up
        and the Slack inbox keeps up: 200, else 503 with what is wrong."""
        gate("readyz", request)
        ready, checks = readiness(store, state, inbox)
        return JSONResponse(
            {"status": "ready" if ready else "degraded", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        """Prometheus text format (`daemon.http.metrics`)."""
        gate("metrics", request)
        registry = (state.metrics or DaemonMetrics(store)).registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        gate("docs", request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        gate("docs", request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        gate("docs", request)
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - API")

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
        openapi_extra=DECISION_BODY,
        responses=DECISION_RESPONSES,
    )
    async def approve(
        run_id: int, request: Request, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        """Approve the run's current plan: as the token's person (`api:<person>`), or with
        the shared `http.api_token` as `as` (`api:<as>`)."""
        caller = await run_in_threadpool(auth.decider, authorization)
        actor, decision = _actor(config, caller, await _decision_request(request))
        return await run_in_threadpool(_decide, store, config, run_id, "approve", actor, decision)

    @app.post(
        "/api/runs/{run_id}/reject",
        response_model=DecisionResponse,
        openapi_extra=DECISION_BODY,
        responses=DECISION_RESPONSES,
    )
    async def reject(
        run_id: int, request: Request, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        """Reject the run with a `reason`, as the token's person or (shared token) `as`."""
        caller = await run_in_threadpool(auth.decider, authorization)
        actor, decision = _actor(config, caller, await _decision_request(request))
        return await run_in_threadpool(_decide, store, config, run_id, "reject", actor, decision)

    add_lineage_route(app, store, config, auth)

    @app.get("/api/incidents", response_model=IncidentList, responses=READ_RESPONSES)
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

        Read-only. While a token is configured (`http.api_token`, or `warden tokens
        create`), send `Authorization: Bearer <token>` (else 401); otherwise it is open.
        """
        auth.require(authorization)
        filters = IncidentFilter(
            status=_statuses(status), dataset=dataset, monitor=monitor, limit=limit
        )
        rows = [incident_row(incident) for incident in query_incidents(store, filters)]
        return {"incidents": rows, "count": len(rows)}

    @app.get(
        "/api/incidents/{incident_id}",
        response_model=IncidentDetail,
        responses={**READ_RESPONSES, 404: {"description": "There is no such incident"}},
    )
    def incident_detail(
        incident_id: int, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        """One incident: its row (as in the list), its evidence and its timeline (the audit
        events about it, oldest first).

        Read-only. While a token is configured (`http.api_token`, or `warden tokens
        create`), send `Authorization: Bearer <token>` (else 401); otherwise it is open.
        """
        auth.require(authorization)
        incident, events = get_incident(store, incident_id)
        if incident is None:
            raise HTTPException(404, f"there is no incident {incident_id}")
        return {
            **incident_row(incident),
            "evidence": incident.evidence,
            "timeline": [audit_row(event) for event in events],
        }

    @app.get(
        "/incidents/{incident_id}",
        response_class=HTMLResponse,
        responses={
            401: {"description": "A token is configured and neither a link nor one was sent"},
            403: {"description": "The signed link has expired or is forged"},
            404: {"description": "There is no such incident"},
        },
    )
    def incident_report(
        incident_id: int,
        exp: Annotated[
            str | None, Query(description="Signed link: valid until (unix seconds).")
        ] = None,
        sig: Annotated[
            str | None, Query(description="Signed link: HMAC-SHA256 of the id and `exp` (hex).")
        ] = None,
        authorization: str | None = Header(None),
    ) -> Response:
        """The incident's HTML report (as `warden incidents show ID --html`), without the
        daemon's host and pid. While a token is configured it needs a signed link (Slack
        messages carry one) or a bearer token."""
        return report_response(auth, incident_id, exp=exp, sig=sig, authorization=authorization)

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


def _actor(
    config: WardenConfig, caller: Caller, request: DecisionRequest
) -> tuple[str, DecisionRequest]:
    """Who decides: `api:<person>` for a person's token (403 when `as` names someone
    else), `api:<as>` for the shared token (`as` is then required: 422 without it)."""
    if caller.shared:
        if request.as_ is None:
            raise RequestValidationError(
                [
                    {
                        "type": "missing",
                        "loc": ("body", "as"),
                        "msg": "Field required (the shared http.api_token names no one)",
                        "input": request.model_dump(by_alias=True, exclude_none=True),
                    }
                ]
            )
        return f"api:{request.as_}", request
    person = f"api:{caller.person}"
    if request.as_ is not None and not same_person(config.people, f"api:{request.as_}", person):
        raise HTTPException(
            403,
            f"token {caller.token_name!r} belongs to {caller.person}; it cannot decide as "
            f"{request.as_!r} (leave `as` out, or use {request.as_}'s own token)",
        )
    return person, request


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
    store: Store,
    config: WardenConfig,
    run_id: int,
    decision: Any,
    actor: str,
    request: DecisionRequest,
) -> DecisionResponse:
    replanned = plan_again(store, config, run_id) if decision == "approve" else None
    try:
        with store.session() as session:
            outcome = decide(
                session,
                config,
                run_id,
                decision,
                actor=actor,
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

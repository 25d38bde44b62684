"""The FastAPI application of `warden run`.

- `POST /slack/actions`: Slack's interactivity request URL. The signature (`X-Slack-Signature`,
  `X-Slack-Request-Timestamp`, at most 5 minutes old) is checked on the raw body before
  anything else; a forged, altered, expired or unsigned request gets 401 and nothing is
  written. A valid one is spooled durably and acknowledged at once (empty 200); the decision
  is taken on the processor thread. Retries (`X-Slack-Retry-Num`) are acknowledged the same
  way and acted on once (`daemon.slack.inbox`).
- `POST /api/runs/{id}/approve` and `/reject`: the approval API for people without Slack,
  with `Authorization: Bearer <http.api_token>`; the same rules as the CLI and Slack
  (`daemon.approvals.decide`). Body: `{"as": "alice", "reason": "..."}`; the decision is
  recorded as `api:alice`. One token serves everyone who holds it, so under `two_person` the
  two names are the callers' word (as `--as` is on the CLI).
- `GET /healthz` (the process serves), `GET /readyz` (`daemon.http.probes`), `GET /metrics`
  (Prometheus, `daemon.metrics`), `GET /incidents/{id}` (the incident's HTML report, linked
  from Slack).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from daemon.approvals import DecisionRefused, decide, plan_again
from daemon.config.models import WardenConfig
from daemon.html_report import render_incident_html
from daemon.http.probes import DaemonState, readiness
from daemon.metrics import DaemonMetrics
from daemon.queries import get_incident
from daemon.slack.receiver import SlackReceiver
from daemon.store.engine import Store


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

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process serves HTTP."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """The store answers, the scheduler runs and Slack's socket is up: 200, else 503."""
        ready, checks = readiness(store, state)
        return JSONResponse(
            {"status": "ready" if ready else "degraded", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text format (`daemon.metrics`)."""
        registry = (state.metrics or DaemonMetrics(store)).registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/slack/actions", include_in_schema=False)
    async def slack_actions(request: Request) -> Response:
        body = await request.body()
        if receiver is None or not receiver.is_signed(body, request.headers):
            return Response("invalid or missing Slack signature", status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
        except (KeyError, IndexError, ValueError, UnicodeDecodeError):
            return Response("expected a form field `payload` holding JSON", status_code=400)
        if not isinstance(payload, dict):
            return Response("`payload` must be a JSON object", status_code=400)
        receiver.accept(payload, source="http")
        return Response(status_code=200)

    @app.post("/api/runs/{run_id}/approve", response_model=DecisionResponse)
    def approve(
        run_id: int, request: DecisionRequest, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        _authorise(config, authorization)
        return _decide(store, config, run_id, "approve", request)

    @app.post("/api/runs/{run_id}/reject", response_model=DecisionResponse)
    def reject(
        run_id: int, request: DecisionRequest, authorization: str | None = Header(None)
    ) -> DecisionResponse:
        _authorise(config, authorization)
        return _decide(store, config, run_id, "reject", request)

    @app.get("/incidents/{incident_id}", response_class=HTMLResponse)
    def incident_report(incident_id: int) -> HTMLResponse:
        incident, events = get_incident(store, incident_id)
        if incident is None:
            raise HTTPException(404, f"there is no incident {incident_id}")
        return HTMLResponse(render_incident_html(incident, events))

    return app


def _authorise(config: WardenConfig, authorization: str | None) -> None:
    token = config.http.api_token if config.http else None
    if token is None:
        raise HTTPException(403, "the approval API is off: set http.api_token in the config")
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


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

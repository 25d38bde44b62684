"""`POST /api/lineage`: OpenLineage run events of other jobs (`daemon.lineage.ingest`)."""

from __future__ import annotations

from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from daemon.config.models import WardenConfig
from daemon.http.auth import Authenticator, unauthorised
from daemon.lineage.event_model import OpenLineageRunEvent
from daemon.lineage.ingest import record_refusal, record_run_event
from daemon.store.engine import Store


def add_lineage_route(
    app: FastAPI, store: Store, config: WardenConfig, auth: Authenticator
) -> None:
    @app.post(
        "/api/lineage",
        status_code=201,
        responses={
            200: {"description": "The same event was received before; nothing new recorded"},
            400: {"description": "Not an OpenLineage run event (the reason is recorded)"},
            401: {"description": "Missing or wrong bearer token"},
            403: {"description": "No token is configured: the lineage API is off"},
            413: {"description": "The body is larger than 1 MiB"},
        },
    )
    async def lineage(request: Request, authorization: str | None = Header(None)) -> Response:
        """Record an OpenLineage run event of a training or batch job: which dataset
        versions its run read (`daemon.lineage.ingest`). Needs a token, like the approval
        API. Inputs naming no configured dataset are kept and listed in the answer."""
        caller = await run_in_threadpool(lineage_caller, auth, authorization)
        body = await request.body()
        try:
            event = OpenLineageRunEvent.model_validate_json(body)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
                for item in error.errors(include_url=False)[:20]
            ]
            await run_in_threadpool(
                record_refusal, store, received_by=caller, reason="; ".join(problems)
            )
            return JSONResponse(
                {"detail": "not an OpenLineage run event", "problems": problems}, status_code=400
            )
        recorded = await run_in_threadpool(
            record_run_event, store, config, event, received_by=caller
        )
        return JSONResponse(
            {
                "run_id": recorded.run_id,
                "recorded": recorded.new,
                "inputs": recorded.inputs,
                "unknown_inputs": recorded.unknown,
            },
            status_code=201 if recorded.new else 200,
        )


def lineage_caller(auth: Authenticator, authorization: str | None) -> str:
    """Who sends lineage: `api:<person>` or `api:shared`; 403 while no token is set."""
    if not auth.auth_on():
        raise HTTPException(
            403,
            "the lineage API is off: set http.api_token in the config, or make a token with "
            "`warden tokens create NAME --person PERSON`",
        )
    caller = auth.verify(authorization)
    if caller is None:
        raise unauthorised()
    return f"api:{caller.person or 'shared'}"

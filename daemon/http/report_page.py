"""`GET /incidents/{id}`: the incident's HTML report, for browsers following a Slack link.

While the API needs a token (`daemon.http.auth`), the report needs one of:

- a signed, unexpired link (`?exp=...&sig=...`, `daemon.reporting.report_links`), which is
  what Slack messages carry: a browser sends no token;
- any valid bearer token (a person's or the shared one), for scripts.

An expired or forged link gets 403 and a request with neither gets 401, both as one line
of plain text and before the incident is even looked up, so they tell nothing about which
incidents exist (ids are sequential). While auth is off the report is open, as before.

The page leaves out the daemon's host and process id: a daemon's audit actor is
`host:pid:token` (`daemon.store.identities`), and a link can be forwarded beyond the people
who may run `warden audit`. It shows `warden daemon <token>` instead, which still tells
replicas apart; the audit trail and `GET /api/incidents/{id}` (which need a token) keep the
full identity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from daemon.config.models import HttpConfig
from daemon.http.auth import Authenticator
from daemon.lineage.impact import Impact, impact_of
from daemon.reporting.html_report import render_incident_html
from daemon.reporting.metric_charts import incident_series
from daemon.reporting.queries import get_incident
from daemon.reporting.report_links import api_needs_token, link_key, link_problem
from daemon.store.identities import Claimant
from daemon.store.models import AuditEvent

#: Sent with every report: a signed link must not leak through caches or a Referer.
log = logging.getLogger(__name__)

REPORT_HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
NEEDS_LINK_OR_TOKEN = (
    "this report needs a signed link (open it from its Slack message) or a bearer token"
)


def report_response(
    auth: Authenticator,
    incident_id: int,
    *,
    exp: str | None,
    sig: str | None,
    authorization: str | None,
) -> Response:
    """The report page, or the plain-text refusal (401, 403) or 404 explained above."""
    refusal = _refusal(auth, incident_id, exp, sig, authorization)
    if refusal is not None:
        return refusal
    incident, events = get_incident(auth.store, incident_id)
    if incident is None:
        raise HTTPException(404, f"there is no incident {incident_id}")
    page = render_incident_html(
        incident,
        without_daemon_hosts(events),
        _impact(auth, incident_id),
        incident_series(auth.store, incident),
    )
    return HTMLResponse(page, headers=REPORT_HEADERS)


def _impact(auth: Authenticator, incident_id: int) -> Impact | None:
    """The job runs that read the incident's bad data; None (the page without them) when
    they cannot be worked out now."""
    try:
        return impact_of(auth.store, auth.config, incident_id)
    except Exception:  # the report matters more than its lineage section
        log.warning("the lineage of incident %s could not be read", incident_id, exc_info=True)
        return None


def _refusal(
    auth: Authenticator,
    incident_id: int,
    exp: str | None,
    sig: str | None,
    authorization: str | None,
) -> Response | None:
    http = auth.config.http or HttpConfig()
    with auth.store.session(readonly=True) as session:
        if not api_needs_token(auth.config, session):
            return None
        problem = None
        if exp is not None or sig is not None:
            problem = link_problem(
                link_key(session), incident_id, exp, sig, ttl=http.report_link_ttl
            )
            if problem is None:
                return None
    try:
        if auth.verify(authorization) is not None:
            return None
    except HTTPException as error:
        if problem is None:
            return _plain(401, str(error.detail))
    if problem is not None:
        return _plain(403, problem)
    return _plain(401, NEEDS_LINK_OR_TOKEN)


def _plain(status: int, text: str) -> PlainTextResponse:
    headers = {**REPORT_HEADERS, **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return PlainTextResponse(text, status_code=status, headers=headers)


def without_daemon_hosts(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """`events` with each daemon actor (`host:pid:token`) shown as `warden daemon <token>`.

    >>> from datetime import UTC, datetime
    >>> event = AuditEvent(seq=1, at=datetime(2025, 1, 1, tzinfo=UTC), actor="w-0:41:a1b2c3",
    ...     action="incident.resolved", entity_type="incident", entity_id="1", payload={},
    ...     prev_hash="0" * 64, hash="1" * 64)
    >>> [e.actor for e in without_daemon_hosts([event, event.model_copy(update={"actor": "bob"})])]
    ['warden daemon a1b2c3', 'bob']
    """
    shown = []
    for event in events:
        claimant = Claimant.parse(event.actor)
        if claimant.host is not None:
            token = event.actor.rsplit(":", 1)[-1]
            event = event.model_copy(update={"actor": f"warden daemon {token}"})
        shown.append(event)
    return shown

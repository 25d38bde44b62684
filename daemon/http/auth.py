"""Who calls the HTTP API: a person's token, the shared token, or nobody.

**Auth is on** when `http.api_token` is set or a token made with `warden tokens create` is
not revoked (`daemon.reporting.report_links.api_needs_token`); it is read from the store at
each request, so the first token made turns it on and revoking one works at once, on every
replica. While it is on, everything but `http.public_endpoints` needs
`Authorization: Bearer <token>` (else 401), and the approval API knows who decides:

- **A person's token** (stored hashed, `daemon.store.api_tokens`) decides as
  `api:<person>`. The body's `as` may be left out; when given it must be that person
  (or one of their API names in `people:`), else 403: one person's token never records
  another's name. A revoked token gets 401.
- **The shared `http.api_token`** keeps working as before: every holder names themself
  with `as` (recorded `api:<as>`), so under `two_person` the two names are the callers'
  word. It is the weaker option, kept for scripts and for setups that predate tokens.

The shared token is compared in constant time (`hmac.compare_digest`); a person's token is
hashed and looked up by its hash, so neither check's time depends on how much of a guess
was right. While auth is off, reads are open and the approval API answers 403.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy.exc import SQLAlchemyError

from daemon.config.models import WardenConfig
from daemon.reporting.report_links import api_needs_token
from daemon.store.api_tokens import TOUCH_EVERY, find_token, touch
from daemon.store.engine import Store
from daemon.store.types import utcnow

log = logging.getLogger(__name__)

APPROVAL_API_OFF = (
    "the approval API is off: set http.api_token in the config, or make a person's token "
    "with `warden tokens create NAME --person PERSON`"
)


@dataclass(frozen=True)
class Caller:
    """A request's verified token: a person's (`person`, `token_name`) or, with both None,
    the shared `http.api_token`."""

    person: str | None = None
    token_name: str | None = None

    @property
    def shared(self) -> bool:
        return self.person is None


def unauthorised(detail: str = "missing or wrong bearer token") -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Checks bearer tokens against the config and the store (each call may read it, so
    call from a worker thread, not the event loop)."""

    def __init__(self, store: Store, config: WardenConfig) -> None:
        self.store = store
        self.config = config

    def auth_on(self) -> bool:
        """Whether the API needs a token right now (see the module docstring)."""
        with self.store.session(readonly=True) as session:
            return api_needs_token(self.config, session)

    def verify(self, authorization: str | None) -> Caller | None:
        """The caller the `Authorization` header's bearer token proves; None when it holds
        no bearer token; 401 for a wrong or revoked one."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        shared = self.config.http.api_token if self.config.http else None
        if shared is not None and hmac.compare_digest(
            given.encode(), shared.get_secret_value().encode()
        ):
            return Caller()
        with self.store.session(readonly=True) as session:
            token = find_token(session, given)
        if token is None:
            raise unauthorised()
        if token.revoked_at is not None:
            raise unauthorised(f"token {token.name!r} was revoked")
        if token.last_used_at is None or utcnow() - token.last_used_at >= TOUCH_EVERY:
            self._touch(token.id or 0)
        return Caller(person=token.person, token_name=token.name)

    def require(self, authorization: str | None) -> Caller | None:
        """For reads and non-public endpoints: the verified caller while auth is on (else
        401); None while it is off, whatever the header says."""
        try:
            caller = self.verify(authorization)
        except HTTPException:
            if self.auth_on():
                raise
            return None
        if caller is None and self.auth_on():
            raise unauthorised()
        return caller

    def decider(self, authorization: str | None) -> Caller:
        """For the approval API: 403 while auth is off, else the verified caller (401)."""
        if not self.auth_on():
            raise HTTPException(403, APPROVAL_API_OFF)
        caller = self.verify(authorization)
        if caller is None:
            raise unauthorised()
        return caller

    def _touch(self, token_id: int) -> None:
        """Record the use; a store refusing writes must not refuse a valid token."""
        try:
            with self.store.session() as session:
                touch(session, token_id)
        except SQLAlchemyError as error:
            log.warning("could not record the use of API token %s: %s", token_id, error)

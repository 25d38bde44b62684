"""Per-person bearer tokens of the HTTP API (`ApiToken` rows), made, found and revoked.

A token is `warden_` and 32 random bytes (URL-safe base64). Only its sha256 is stored:
the secret carries 256 bits of randomness, so a plain hash cannot be reversed or guessed,
and no salt or slow hash is needed (those protect low-entropy passwords). A request's token
is hashed and looked up by that hash, so comparing never depends on the secret's bytes.

Each token belongs to a person and decides as `api:<person>`; `daemon.config.people` can
tie that name to the same person's Slack id and CLI login. Creating and revoking are
audited (`token.created`, `token.revoked`, entity `api_token` named by the token's name);
the secret and its hash never reach the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from daemon.store.audit import append_audit
from daemon.store.models import ApiToken
from daemon.store.types import utcnow

#: What every secret starts with, so secret scanners and people recognise one.
TOKEN_PREFIX = "warden_"
#: Random bytes in a secret.
TOKEN_BYTES = 32
#: `last_used_at` is written at most this often per token (a write per request would
#: make every read a write).
TOUCH_EVERY = timedelta(minutes=1)
TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
PERSON_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")


class TokenProblem(ValueError):
    """A token that cannot be made or revoked, explained for the person who tried."""


def hash_token(secret: str) -> str:
    """The sha256 (hex) of a secret: what is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: Session, name: str, person: str, *, created_by: str
) -> tuple[ApiToken, str]:
    """A new token named `name` for `person`, and its secret (shown once: it is not kept)."""
    if not TOKEN_NAME_PATTERN.match(name):
        raise TokenProblem(
            f"token name {name!r}: use 1-100 letters, digits, dots, dashes or underscores"
        )
    if not PERSON_PATTERN.match(person):
        raise TokenProblem(
            f"person {person!r}: use 1-100 letters, digits and . _ @ + - (it is recorded "
            "as api:<person>)"
        )
    existing = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if existing is not None:
        state = "revoked" if existing.revoked_at is not None else "in use"
        raise TokenProblem(f"a token named {name!r} exists ({state}); names are not reused")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(name=name, person=person, token_hash=hash_token(secret), created_by=created_by)
    session.add(token)
    try:
        session.flush()
    except IntegrityError:  # made at the same moment elsewhere
        raise TokenProblem(f"a token named {name!r} exists; names are not reused") from None
    append_audit(
        session,
        actor=created_by,
        action="token.created",
        entity_type="api_token",
        entity_id=name,
        payload={"person": person},
    )
    return token, secret


def revoke_token(session: Session, name: str, *, actor: str) -> ApiToken:
    """Revoke the token `name` now: from the next request on it is refused (401)."""
    token = session.exec(select(ApiToken).where(ApiToken.name == name).with_for_update()).first()
    if token is None:
        raise TokenProblem(f"there is no token named {name!r}; see `warden tokens list`")
    if token.revoked_at is not None:
        raise TokenProblem(
            f"token {name!r} was already revoked at {token.revoked_at:%Y-%m-%d %H:%M} UTC"
        )
    token.revoked_at, token.revoked_by = utcnow(), actor
    session.add(token)
    append_audit(
        session,
        actor=actor,
        action="token.revoked",
        entity_type="api_token",
        entity_id=name,
        payload={"person": token.person},
    )
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones included, oldest first."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The token whose secret this is (revoked or not), or None."""
    return session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()


def any_active_token(session: Session) -> bool:
    """Whether some token is not revoked (then the HTTP API needs a token)."""
    found = session.exec(
        select(ApiToken.id).where(col(ApiToken.revoked_at).is_(None)).limit(1)
    ).first()
    return found is not None


def touch(session: Session, token_id: int, *, now: datetime | None = None) -> bool:
    """Record that the token was used now, unless that was recorded under `TOUCH_EVERY`
    ago; True when written."""
    moment = now or utcnow()
    token = session.get(ApiToken, token_id)
    if token is None or (
        token.last_used_at is not None and moment - token.last_used_at < TOUCH_EVERY
    ):
        return False
    token.last_used_at = moment
    session.add(token)
    return True

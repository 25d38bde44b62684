"""Signed, expiring links to an incident's HTML report (`GET /incidents/{id}`).

When the HTTP API needs a token (`api_needs_token`: `http.api_token` is set, or a token made
with `warden tokens create` is not revoked), so does the report, which holds the evidence
and the audit timeline. A browser following a link from Slack sends no token, so Slack
messages carry a link that is its own proof instead:

    <http.public_url>/incidents/<id>?exp=<unix seconds>&sig=<hex>

`sig` is the HMAC-SHA256 (hex) of `warden-report-link:<id>:<exp>` under the link key, so
the link opens that one incident until `exp` and nothing else; a link with another id, a
later `exp` or a wrong `sig` is refused. `exp` is `http.report_link_ttl` (default 7 days)
after the message was last rendered: a message updated later (a decision, a resolution)
carries a fresh link. A link whose `exp` lies further ahead than the TTL now allows (more
than a minute of clock skew) is refused as well, so shortening the TTL also shortens links
already sent. With no token configured, links stay plain and the report stays open.

**The key.** `WARDEN_LINK_KEY` from the daemon's environment when it is set (any string;
every replica needs the same one; changing it invalidates every link already sent, which is
how to revoke them all). Otherwise 32 random bytes made with the store (`report_link_key`,
migration 0010), shared by every replica and every CLI that writes Slack messages, with no
setup; whoever can read the store can then sign links, as they can read the incidents.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from daemon.config.models import WardenConfig
from daemon.store.api_tokens import any_active_token
from daemon.store.models import ReportLinkKey
from daemon.store.types import utcnow

#: The environment variable holding the link key (else the store's key is used).
LINK_KEY_VARIABLE = "WARDEN_LINK_KEY"
#: How far a link's `exp` may lie beyond now + TTL (clocks of replicas differ a little).
CLOCK_SKEW = timedelta(minutes=1)
_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def api_needs_token(config: WardenConfig, session: Session) -> bool:
    """Whether the HTTP API needs a bearer token: `http.api_token` is set, or some token of
    the store is not revoked (the rule `daemon.http.auth` applies, here so that Slack's
    links follow it too)."""
    if config.http is not None and config.http.api_token is not None:
        return True
    return any_active_token(session)


def link_key(session: Session, environ: Mapping[str, str] | None = None) -> bytes:
    """The key that signs report links: `WARDEN_LINK_KEY`, else the store's own."""
    value = (os.environ if environ is None else environ).get(LINK_KEY_VARIABLE)
    if value:
        return value.encode("utf-8")
    stored = session.get(ReportLinkKey, 1)
    if stored is None:  # only a store whose row was deleted by hand
        raise RuntimeError(
            f"the store has no report link key (table report_link_key); set {LINK_KEY_VARIABLE}"
        )
    return bytes.fromhex(stored.key)


def signature(key: bytes, incident_id: int, expires: int) -> str:
    """The `sig` of a link to incident `incident_id` valid until `expires` (unix seconds)."""
    message = f"warden-report-link:{incident_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link_problem(
    key: bytes,
    incident_id: int,
    expires: str | None,
    sig: str | None,
    *,
    ttl: timedelta,
    now: datetime | None = None,
) -> str | None:
    """Why a link's `exp` and `sig` do not open incident `incident_id` now, or None when
    they do. The message is for the person who followed the link and reveals nothing."""
    if not expires or not sig or not _EXPIRES.match(expires) or not _SIGNATURE.match(sig):
        return "this report link is not valid (no or malformed exp and sig)"
    if not hmac.compare_digest(signature(key, incident_id, int(expires)), sig):
        return "this report link is not valid (its signature does not match)"
    moment = (now or utcnow()).timestamp()
    if int(expires) <= moment:
        return "this report link has expired; open a newer Slack message, or ask for the report"
    if int(expires) > moment + (ttl + CLOCK_SKEW).total_seconds():
        return "this report link has expired (it outlives http.report_link_ttl)"
    return None


@dataclass(frozen=True)
class ReportLinks:
    """How Slack messages link an incident's report: `base_url` is `http.public_url`."""

    base_url: str
    ttl: timedelta
    config: WardenConfig

    @classmethod
    def from_config(cls, config: WardenConfig) -> ReportLinks | None:
        """None without `http.public_url` (then messages carry no link)."""
        if config.http is None or not config.http.public_url:
            return None
        return cls(config.http.public_url.rstrip("/"), config.http.report_link_ttl, config)

    def url_for(self, session: Session, incident_id: int, *, now: datetime | None = None) -> str:
        """The report's link: signed and expiring when the API needs a token, else plain."""
        plain = f"{self.base_url}/incidents/{incident_id}"
        if not api_needs_token(self.config, session):
            return plain
        expires = int(((now or utcnow()) + self.ttl).timestamp())
        return f"{plain}?exp={expires}&sig={signature(link_key(session), incident_id, expires)}"

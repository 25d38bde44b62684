"""From audit events to PagerDuty events in the outbox, in the same transaction.

An audit hook (`Store.audit_hooks`, like the Slack writer): an escalation step that pages
(`escalation.step_fired` with `action: page`) writes a `trigger` for the group; once a
group was paged, `group.acknowledged` writes an `acknowledge` and `group.closed` a
`resolve`. Rows are `OutboxMessage`s with `transport="pagerduty"`, delivered in order per
group by `daemon.paging.dispatcher`. The routing key is never written: it is added when the
event is sent.

The alert's `dedup_key` is the lead incident's fingerprint with the group's id
(`dedup_key`), saved on the group with its trigger, so every later event of the group names
the same alert. A group reopened by a new unacknowledged member fires its steps again and
its page is a new alert (the acknowledged one would swallow the trigger); closing the group
resolves every alert it raised.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from daemon.config.models import WardenConfig
from daemon.incidents.group_lifecycle import members_of
from daemon.paging.events import follow_up_event, trigger_event
from daemon.reporting.report_links import ReportLinks
from daemon.store.models import AuditEvent, Incident, OutboxMessage, OutboxStatus
from daemon.store.oncall_models import IncidentGroup

if TYPE_CHECKING:
    from daemon.store.engine import Store

log = logging.getLogger(__name__)

#: Findings listed in an alert's details at most (its whole size is at most 512 KB).
LISTED_FINDINGS = 10
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class PageWriter:
    """An audit hook writing PagerDuty events for paged incident groups."""

    def __init__(self, report_links: ReportLinks | None, client_url: str | None) -> None:
        self.report_links = report_links
        self.client_url = client_url

    def __call__(self, session: Session, event: AuditEvent) -> None:
        if event.entity_type != "incident_group":
            return
        group = session.get(IncidentGroup, int(event.entity_id))
        if group is None:
            return
        if event.action == "escalation.step_fired" and event.payload.get("action") == "page":
            payload = self._trigger(session, group)
            group.page_dedup_key = payload["dedup_key"]
            session.add(group)
            _enqueue(session, group, "trigger", event.seq, payload)
        elif group.page_dedup_key and event.action == "group.acknowledged":
            ack = follow_up_event("acknowledge", group.page_dedup_key)
            _enqueue(session, group, "acknowledge", event.seq, ack)
        elif group.page_dedup_key and event.action == "group.closed":
            # Every alert the group raised ends with it (one per generation it paged in).
            for index, key in enumerate(_alerts_of(session, group.id or 0)):
                resolve = follow_up_event("resolve", key)
                _enqueue(session, group, "resolve", event.seq, resolve, index=index)

    def _trigger(self, session: Session, group: IncidentGroup) -> dict[str, Any]:
        members = members_of(session, group.id or 0)
        lead = session.get(Incident, group.lead_incident_id)
        assert lead is not None
        severity = max((m.severity for m in members), key=lambda s: SEVERITY_RANK.get(s, 0))
        if len(members) == 1:
            summary = f"[{severity}] {lead.title}"
        else:
            patterns = ", ".join(sorted({member.pattern for member in members}))
            summary = f"[{severity}] {len(members)} incidents on {group.dataset}: {patterns}"
        report = self.report_links.url_for(session, lead.id or 0) if self.report_links else None
        details: dict[str, Any] = {
            "incidents": [
                {
                    "id": member.id,
                    "title": member.title,
                    "severity": member.severity,
                    "status": member.status,
                    "monitor": member.monitor,
                }
                for member in members
            ],
            "findings": _finding_lines(members),
            "group": group.id,
        }
        if report:
            details["report_url"] = report
        version = (lead.evidence or {}).get("dataset_version")
        if isinstance(version, dict) and version.get("version"):
            details["dataset_version"] = str(version["version"])
        return trigger_event(
            dedup_key=dedup_key(lead.fingerprint, group.id or 0, group.generation),
            summary=summary,
            source=f"warden/{group.dataset}",
            severity=severity,
            timestamp=lead.first_seen.isoformat(),
            component=lead.monitor,
            group=group.dataset,
            event_class=lead.pattern,
            custom_details=details,
            links=[(report, "Incident report")] if report else (),
            client_url=self.client_url,
        )


def dedup_key(fingerprint: str, group_id: int, generation: int = 0) -> str:
    """The alert's key: the lead incident's fingerprint, the group's id and, once the group
    was reopened, its generation.

    The fingerprint alone names the *problem*, and a problem comes back: a second group led
    by the same problem while the first is still open would add to the first's alert, and
    the first closing would resolve the second's. With the group's id each group has its
    own alert, and a resent event still lands on it. A group reopened by a new
    unacknowledged incident pages anew (its acknowledged alert would swallow a trigger):
    each generation is an alert, and all of them are resolved when the group closes.

    >>> dedup_key("ab" * 32, 7)[-3:], dedup_key("ab" * 32, 7, 2)[-5:], len(dedup_key("a", 7))
    ('-g7', '-g7.2', 4)
    """
    suffix = f".{generation}" if generation else ""
    return f"{fingerprint}-g{group_id}{suffix}"


def _alerts_of(session: Session, group_id: int) -> list[str]:
    """The dedup keys of the alerts the group triggered (triggers not superseded)."""
    rows = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.transport == "pagerduty",
            OutboxMessage.group_id == group_id,
            OutboxMessage.kind == "trigger",
            OutboxMessage.status != OutboxStatus.superseded,
        )
        .order_by(col(OutboxMessage.id))
    ).all()
    return list(dict.fromkeys(str(row.payload.get("dedup_key")) for row in rows))


def _finding_lines(members: list[Incident]) -> list[str]:
    """`#id column: method statistic vs threshold`, plain text, the first few."""
    lines: list[str] = []
    for member in members:
        for finding in (member.evidence or {}).get("findings") or []:
            if len(lines) >= LISTED_FINDINGS:
                return lines
            statistic, threshold = finding.get("statistic"), finding.get("threshold")
            where = finding.get("column") or member.pattern
            measured = f"{statistic:.4g}" if isinstance(statistic, int | float) else "-"
            limit = f"{threshold:.4g}" if isinstance(threshold, int | float) else "-"
            lines.append(f"#{member.id} {where}: {finding.get('method')} {measured} vs {limit}")
    return lines


def _enqueue(
    session: Session,
    group: IncidentGroup,
    kind: str,
    seq: int,
    payload: dict[str, Any],
    *,
    index: int = 0,
) -> None:
    session.add(
        OutboxMessage(
            channel="pagerduty",
            transport="pagerduty",
            dedupe_key=f"page:{group.id}:{kind}:{seq}" + (f":{index}" if index else ""),
            payload=payload,
            kind=kind,
            incident_id=group.lead_incident_id,
            group_id=group.id,
        )
    )
    session.flush()


def install_page_writer(store: Store, config: WardenConfig) -> None:
    """Make escalation steps that page, and the paged groups' acknowledgements and ends,
    write PagerDuty events to the outbox (when `pagerduty:` is configured)."""
    if config.pagerduty is None:
        return
    client_url = config.http.public_url if config.http else None
    store.audit_hooks.append(PageWriter(ReportLinks.from_config(config), client_url))

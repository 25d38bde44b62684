"""The incident HTML report is self-contained and safe: charts from the stored evidence, no
script and nothing fetched, and text from the data escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from daemon.reporting.html_report import render_incident_html
from daemon.store.models import AuditEvent, Incident

HOSTILE = "<script>alert('x')</script>"


def _incident() -> Incident:
    finding = {
        "pattern": "feature_drift",
        "column": HOSTILE,
        "method": "jensen_shannon",
        "statistic": 0.4,
        "threshold": 0.1,
        "p_value": 1e-9,
        "alert": True,
        "details": {
            "histogram": {
                "bins": ["card", "cash", f"<img src=x onerror=alert(1)>{HOSTILE}"],
                "reference": [50, 50, 0],
                "current": [20, 30, 50],
            }
        },
    }
    return Incident(
        id=7,
        fingerprint="f" * 64,
        monitor="m",
        dataset="payments",
        pattern="feature_drift",
        scope={},
        severity="critical",
        title=f"feature_drift on payments ({HOSTILE})",
        first_seen=datetime(2025, 1, 1, tzinfo=UTC),
        last_seen=datetime(2025, 1, 2, tzinfo=UTC),
        evidence={"findings": [finding], "windows": {"current": {"dataset": "payments"}}},
        closed_reason=HOSTILE,
    )


def test_report_is_self_contained_escaped_and_charts_both_windows():
    event = AuditEvent(
        seq=1,
        at=datetime(2025, 1, 1, tzinfo=UTC),
        actor="scanner",
        action="incident.opened",
        entity_type="incident",
        entity_id="7",
        payload={"columns": [HOSTILE]},
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    page = render_incident_html(_incident(), [event])
    assert "<script" not in page and "<img" not in page
    assert not re.search(r"""(src|href)\s*=\s*['"]?https?:""", page)  # nothing fetched
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # One chart, a reference bar and a current bar per category; shares in the tooltips.
    assert page.count("<svg") == 1 and page.count("<rect") == 6
    assert "card: reference 50.0%" in page and "cash: current 30.0%" in page
    assert "incident.opened" in page

"""The Slack renderers: message structure, buttons only while a decision is pending, button
values that bind to the plan hash, escaping of text from the data, and Slack's limits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.slack.mrkdwn import FENCE, clip, escape
from daemon.slack.render import (
    ACK_ACTION,
    APPROVE_ACTION,
    REJECT_ACTION,
    REJECT_VIEW,
    REPORT_ACTION,
    SILENCE_ACTION,
    IncidentCard,
    RunCard,
    approval_recorded_reply,
    incident_message,
    incident_status_reply,
    message_metadata,
    parse_incident_block_id,
    parse_incident_value,
    parse_run_value,
    refusal_text,
    reject_reason_modal,
    run_decided_reply,
    run_finished_reply,
    run_proposed_reply,
    run_started_reply,
    run_step_reply,
    silenced_reply,
)
from daemon.store.models import Incident, PlaybookRun, RunStatus

PLAN_HASH = "3f9a1c0be27d" + "0123456789abcdef" * 3 + "0123"
HOSTILE_COLUMNS = ("<!channel>", "<http://evil|x>")
#: The only `<...>` tokens Warden itself writes into mrkdwn: mentions and dates.
OWN_TOKEN = re.compile(r"<(?:@[UW][A-Z0-9]+|!date\^\d+\^[^|>]*\|[^<>]*)>")


def _finding(column: str, p_value: float | None = 1e-6, **changes: Any) -> dict[str, Any]:
    return {
        "pattern": "feature_drift",
        "column": column,
        "method": "ks",
        "statistic": 0.31,
        "threshold": 0.05,
        "p_value": p_value,
        "alert": True,
        "details": {},
        **changes,
    }


def _run(**changes: Any) -> RunCard:
    run = RunCard(
        run_id=7,
        playbook="quarantine",
        status="proposed",
        summary="Move 2 files of 2025-02-03 into quarantine (41 MB).",
        plan_hash=PLAN_HASH,
        approval_policy="human",
    )
    return replace(run, **changes)


def _card(**changes: Any) -> IncidentCard:
    card = IncidentCard(
        incident_id=12,
        title="null_spike on loans (salary)",
        severity="critical",
        status="open",
        dataset="loans",
        monitor="loans-quality",
        pattern="null_spike",
        scope={"partition": "2025-02-03T00:00:00+00:00"},
        occurrences=3,
        first_seen=datetime(2025, 2, 3, 6, 0, tzinfo=UTC),
        last_seen=datetime(2025, 2, 3, 9, 0, tzinfo=UTC),
        findings=(_finding("salary"),),
        run=_run(),
    )
    return replace(card, **changes)


def _blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in message["blocks"] if block["type"] == kind]


def _buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in _blocks_of(message, "actions")
        for element in block["elements"]
    }


def _texts(node: Any, kind: str) -> list[str]:
    """Every text object of `kind` (mrkdwn or plain_text) anywhere in a payload."""
    if isinstance(node, list):
        return [text for item in node for text in _texts(item, kind)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == kind and isinstance(node.get("text"), str) else []
    return own + [text for value in node.values() for text in _texts(value, kind)]


def _evidence(message: dict[str, Any]) -> str:
    (text,) = [t for t in _texts(message["blocks"], "mrkdwn") if t.startswith("*Evidence*")]
    return text


def test_a_proposed_run_has_facts_evidence_plan_and_three_buttons():
    message = incident_message(_card())

    header = message["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == ":red_circle: Critical: null_spike on loans (salary)"
    fields = "\n".join(field["text"] for field in _blocks_of(message, "section")[0]["fields"])
    for name, value in [
        ("Severity", "critical"),
        ("Status", "open"),
        ("Dataset", "loans"),
        ("Monitor", "loans-quality"),
        ("Pattern", "null_spike"),
        ("Occurrences", "3"),
    ]:
        assert f"*{name}*\n{value}" in fields
    assert "|2025-02-03 06:00 UTC>" in fields
    assert "salary" in _evidence(message) and "1e-06" in _evidence(message)
    plan = next(t for t in _texts(message["blocks"], "mrkdwn") if t.startswith("*Proposed fix*"))
    assert "`quarantine`" in plan and f"`{PLAN_HASH[:12]}`" in plan and PLAN_HASH not in plan
    assert "Move 2 files" in plan
    assert list(_buttons(message)) == [APPROVE_ACTION, REJECT_ACTION, ACK_ACTION, SILENCE_ACTION]
    assert _buttons(message)[APPROVE_ACTION]["style"] == "primary"
    assert _buttons(message)[REJECT_ACTION]["style"] == "danger"
    assert "confirm" not in _buttons(message)[REJECT_ACTION]
    assert message["text"].startswith("critical incident #12: null_spike on loans")
    assert "awaiting approval" in message["text"]


def test_block_ids_encode_the_incident_and_are_unique():
    card = _card(status="resolved", report_url="https://warden.example.com/incidents/12")
    for message in (incident_message(_card()), incident_message(card)):
        ids = [block["block_id"] for block in message["blocks"] if "block_id" in block]
        assert len(ids) == len(set(ids))
    (actions,) = _blocks_of(incident_message(_card()), "actions")
    assert actions["block_id"] == "warden_incident_12"
    assert parse_incident_block_id(actions["block_id"]) == 12


def test_the_approve_dialog_names_the_playbook_and_the_short_hash():
    confirm = _buttons(incident_message(_card()))[APPROVE_ACTION]["confirm"]

    assert confirm["title"]["text"] == "Approve run #7?"
    assert "playbook quarantine" in confirm["text"]["text"]
    assert f"plan {PLAN_HASH[:12]}" in confirm["text"]["text"]
    assert "incident #12" in confirm["text"]["text"]
    assert len(confirm["text"]["text"]) <= 300
    assert confirm["confirm"]["text"] == "Approve" and confirm["deny"]["text"] == "Cancel"


def test_the_two_person_dialog_says_which_approval_it_is():
    first = incident_message(_card(run=_run(approval_policy="two_person")))
    second = incident_message(_card(run=_run(approval_policy="two_person", approvals=("U1",))))

    assert "approval 1 of 2" in _buttons(first)[APPROVE_ACTION]["confirm"]["text"]["text"]
    assert "approval 2 of 2" in _buttons(second)[APPROVE_ACTION]["confirm"]["text"]["text"]
    assert "Approvals: <@U1> (1 of 2 needed)" in _texts(second["blocks"], "mrkdwn")


def test_button_values_are_compact_json_that_parse_back():
    buttons = _buttons(incident_message(_card()))

    for action in (APPROVE_ACTION, REJECT_ACTION):
        value = buttons[action]["value"]
        assert " " not in value
        assert json.loads(value) == {"run": 7, "hash": PLAN_HASH}
        assert parse_run_value(value) == (7, PLAN_HASH)
    assert json.loads(buttons[SILENCE_ACTION]["value"]) == {"incident": 12}
    assert parse_incident_value(buttons[SILENCE_ACTION]["value"]) == 12


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        "[7]",
        '{"run": 7}',
        json.dumps({"run": True, "hash": PLAN_HASH}),
        json.dumps({"run": 0, "hash": PLAN_HASH}),
        json.dumps({"run": "7", "hash": PLAN_HASH}),
        json.dumps({"run": 7, "hash": PLAN_HASH.upper()}),
        json.dumps({"run": 7, "hash": "abc"}),
    ],
)
def test_a_foreign_or_forged_run_value_is_refused(value: str):
    with pytest.raises(ValueError, match=r"not a Warden|must be"):
        parse_run_value(value)


def test_parsers_refuse_what_is_not_an_incident():
    for value in ('{"run": 7}', '{"incident": -1}', '{"incident": 1.5}'):
        with pytest.raises(ValueError):
            parse_incident_value(value)
    # Warden writes ASCII digits only; int() would accept an Arabic-Indic one.
    arabic_one = "warden_incident_\u0661"
    for block_id in ("warden_incident_", "warden_incident_1x", "other_12", arabic_one):
        with pytest.raises(ValueError):
            parse_incident_block_id(block_id)


@pytest.mark.parametrize("status", [s.value for s in RunStatus if s != RunStatus.proposed])
def test_a_decided_run_has_no_approve_or_reject_and_says_what_became_of_it(status: str):
    message = incident_message(_card(run=_run(status=status)))

    assert APPROVE_ACTION not in _buttons(message)
    assert REJECT_ACTION not in _buttons(message)
    state = _blocks_of(message, "context")[-1]
    assert state["block_id"] == "warden_incident_12_state"
    words = {"rolled_back": "rolled back", "running": "is running"}.get(status, status)
    assert words in state["elements"][0]["text"]
    assert "Run #7" in state["elements"][0]["text"]
    assert f"{status}" in message["text"]


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_an_ended_incident_offers_no_decision_even_for_a_stale_proposal(status: str):
    message = incident_message(_card(status=status))

    assert _buttons(message) == {}
    assert f"Incident {status}." in _blocks_of(message, "context")[-1]["elements"][0]["text"]


def test_a_silenced_incident_without_run_has_no_silence_button_and_says_so():
    message = incident_message(_card(run=None, silenced_by="maintenance:warehouse-migration"))

    assert list(_buttons(message)) == [ACK_ACTION]  # still open: it can be acknowledged
    contexts = " ".join(_texts(_blocks_of(message, "context"), "mrkdwn"))
    assert "silenced by maintenance:warehouse-migration" in contexts
    assert "notify only" in contexts


def test_the_report_button_links_the_report_and_is_left_out_without_one():
    url = "https://warden.example.com/incidents/12"
    with_report = _buttons(incident_message(_card(report_url=url)))
    assert with_report[REPORT_ACTION]["url"] == url
    assert with_report[REPORT_ACTION]["text"]["text"] == "Open report"
    assert REPORT_ACTION not in _buttons(incident_message(_card()))
    # Still offered once the run is decided: the report is useful after the fact too.
    decided = _buttons(incident_message(_card(report_url=url, run=_run(status="succeeded"))))
    assert list(decided) == [ACK_ACTION, SILENCE_ACTION, REPORT_ACTION]
    with pytest.raises(ValueError, match="http"):
        _card(report_url="javascript:alert(1)")
    with pytest.raises(ValueError, match="longer than Slack takes"):
        _card(report_url="https://warden.example.com/" + "a" * 3000)


def test_text_from_the_data_cannot_ping_a_channel_or_hide_a_link():
    emergence = _finding(
        "city",
        None,
        pattern="category_emergence",
        method="new_category_share",
        details={"new_categories": {"<!here> & co": 40}, "new_category_count": 1},
    )
    findings = (*(_finding(column) for column in HOSTILE_COLUMNS), emergence)
    card = _card(
        title="drift on loans (<!channel>)",
        dataset="<!everyone>",
        scope={"path": "data/<@U999>.parquet"},
        findings=findings,
        silenced_by="<https://evil.example|ok>",
        run=_run(summary="<!channel> click <http://evil|here>", playbook="quarantine"),
    )
    message = incident_message(card)

    for text in [*_texts(message["blocks"], "mrkdwn"), message["text"]]:
        # Every `<` left is one of Warden's own mentions or dates.
        assert "<" not in OWN_TOKEN.sub("", text), text
    evidence = _evidence(message)
    assert "&lt;!channel&gt;" in evidence
    assert "&lt;http://evil|x&gt;" in evidence
    assert "&lt;!here&gt; &amp; co (40 rows)" in evidence
    # Plain text is never parsed for links or mentions: shown as written, not escaped.
    assert message["blocks"][0]["text"]["type"] == "plain_text"
    assert message["blocks"][0]["text"]["text"].endswith("drift on loans (<!channel>)")


def test_the_evidence_table_stays_aligned_and_closed_whatever_the_column_name():
    columns = ("a`b```c", "<x>", "plain")
    message = incident_message(_card(findings=tuple(_finding(c) for c in columns)))
    evidence = _evidence(message)

    assert evidence.count(FENCE) == 2
    lines = evidence.split(FENCE)[1].strip("\n").split("\n")
    decoded = [line.replace("&lt;", "<").replace("&gt;", ">") for line in lines]
    # The method column starts at the same place on every row.
    assert len({line.index("ks") for line in decoded[1:]}) == 1
    assert decoded[0].index("method") == decoded[1].index("ks")


def test_the_most_significant_alerting_findings_come_first():
    findings = (
        _finding("p03", 0.03),
        _finding("no_p", None),
        _finding("quiet", 1e-30, alert=False),
        _finding("p_tiny", 1e-10),
        _finding("p_zero", 0.0),
    )
    evidence = _evidence(incident_message(_card(findings=findings)))
    rows = evidence.split(FENCE)[1].strip("\n").split("\n")[1:]

    assert [row.split()[0] for row in rows] == ["p_zero", "p_tiny", "p03", "no_p"]
    assert "&lt;1e-308" in rows[0]  # a stored 0 is below what a float holds


def test_two_hundred_findings_and_a_huge_summary_stay_within_slack_limits():
    findings = tuple(
        _finding(f"col_{index}_" + "<&>" * 100, p_value=index / 1000) for index in range(200)
    )
    summary = ("<!channel> & " * 800)[:10_000]
    card = _card(
        title="t" * 500,
        findings=findings,
        scope={f"k{index}": "<v>" * 50 for index in range(40)},
        run=_run(summary=summary),
        report_url="https://warden.example.com/incidents/12",
    )
    message = incident_message(card)

    assert len(message["blocks"]) <= 50
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(field["text"]) <= 2000 for field in block.get("fields", []))
    for text in _texts(message["blocks"], "mrkdwn"):
        assert text.count(FENCE) % 2 == 0
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), "an entity was cut in half"
    assert len(message["text"]) <= 3000
    evidence = _evidence(message)
    assert "the 5 most significant of 200 alerting findings" in evidence
    assert "`warden incidents show 12`" in evidence
    assert len(evidence.split(FENCE)[1].strip("\n").split("\n")) == 1 + 5
    plan = next(t for t in _texts(message["blocks"], "mrkdwn") if t.startswith("*Proposed fix*"))
    assert plan.endswith("…")
    assert APPROVE_ACTION in _buttons(message)  # the buttons survive the truncation


def test_the_reject_modal_asks_for_a_reason_bound_to_the_run_and_hash():
    view = reject_reason_modal(7, PLAN_HASH)

    assert view["type"] == "modal"
    assert view["callback_id"] == REJECT_VIEW == "warden_reject_reason"
    assert parse_run_value(view["private_metadata"]) == (7, PLAN_HASH)
    (field,) = [block for block in view["blocks"] if block["type"] == "input"]
    assert field["block_id"] == "reason"
    element = field["element"]
    assert element["type"] == "plain_text_input"
    assert element["action_id"] == "reason"
    assert element["multiline"] is True
    assert element["min_length"] == 3
    assert view["submit"]["text"] == "Reject" and view["close"]["text"] == "Cancel"
    assert len(reject_reason_modal(10**15, PLAN_HASH)["title"]["text"]) <= 24
    with pytest.raises(ValueError):
        reject_reason_modal(7, "not-a-hash")


def test_message_metadata_names_the_incident_and_run():
    assert message_metadata(_card()) == {
        "event_type": "warden_incident",
        "event_payload": {"incident_id": 12, "run_id": 7},
    }
    assert message_metadata(_card(run=None))["event_payload"] == {"incident_id": 12}


def test_approval_replies_count_the_approvals():
    run = _run(approval_policy="two_person")

    first = approval_recorded_reply(run, "U1", remaining=1)["text"]
    assert "approval 1 of 2 by <@U1>" in first and "one more person" in first
    assert "approval 2 of 2 by <@U2>." in approval_recorded_reply(run, "U2", 0)["text"]
    # A person approving from the CLI is named, not turned into a broken mention.
    assert "approval 1 of 2 by alice;" in approval_recorded_reply(run, "alice", 1)["text"]
    with pytest.raises(ValueError):
        approval_recorded_reply(run, "U1", -1)


def test_decision_replies_say_who_and_why():
    approved = run_decided_reply(_run(status="approved"), "approved", "U9")["text"]
    assert approved.startswith(":white_check_mark: Run #7 (`quarantine`, plan `3f9a1c0be27d`)")
    assert "approved by <@U9>" in approved
    rejected = run_decided_reply(_run(), "rejected", "slack:U9", "<!channel> data is fine")
    assert "rejected by <@U9>: &lt;!channel&gt; data is fine" in rejected["text"]
    expired = run_decided_reply(_run(), "expired", "policy:ttl")["text"]
    assert "expired: not decided in time; nothing was done" in expired
    with pytest.raises(ValueError, match="not a decision"):
        run_decided_reply(_run(), "running", "U9")


def test_proposal_and_start_replies_name_the_run():
    proposed = run_proposed_reply(_run(approval_policy="two_person", origin="agent"))["text"]
    assert "proposed by the agent" in proposed
    assert "2 approvals by different people" in proposed
    assert run_started_reply(_run(status="running"), worker="host-1")["text"] == (
        ":gear: Run #7 (`quarantine`, plan `3f9a1c0be27d`) started on host-1."
    )


def test_step_replies_show_the_playbooks_step_log_entries():
    step = {
        "action": "move",
        "target": "data/loans/date=2025-02-03/part-0.parquet",
        "outcome": "moved",
    }
    assert run_step_reply(step)["text"] == (
        "• `move` data/loans/date=2025-02-03/part-0.parquet → moved"
    )
    aside = {"action": "set_aside", "target": "a.parquet", "outcome": "ok", "to": "b/<x>.parquet"}
    assert "(to: b/&lt;x&gt;.parquet)" in run_step_reply(aside)["text"]
    long_path = {"action": "move", "target": "/very" * 200 + "/file.parquet"}
    text = run_step_reply(long_path)["text"]
    assert text.endswith("/file.parquet") and len(text) <= 250


def test_finished_replies_per_outcome_and_list_at_most_ten_steps():
    steps = [{"action": "move", "target": f"part-{index}.parquet"} for index in range(25)]
    done = run_finished_reply("succeeded", "null_spike is no longer found", steps, run=_run())
    assert done["text"].startswith(":white_check_mark: Run #7")
    assert "succeeded: null_spike is no longer found" in done["text"]
    assert done["text"].count("• `move`") == 10 and "15 more steps" in done["text"]
    rolled = run_finished_reply("rolled_back", "verification failed: still found", [])
    assert "The run was rolled back" in rolled["text"] and "back with a person" in rolled["text"]
    assert run_finished_reply("failed", "<bad>", [])["text"] == ":x: The run failed: &lt;bad&gt;"
    with pytest.raises(ValueError, match="not an end"):
        run_finished_reply("approved", "", [])


def test_status_silence_and_refusal_texts_are_escaped():
    status = incident_status_reply("open", "acknowledged", "U3", "<!here> looking")["text"]
    assert status == ":eyes: Incident open → acknowledged by <@U3>: &lt;!here&gt; looking"
    silenced = silenced_reply("U3", datetime(2025, 2, 4, 9, 0, tzinfo=UTC))["text"]
    assert silenced.startswith(":zzz: Silenced by <@U3> until <!date^1738659600^")
    assert refusal_text("<@U1> is not an approver") == (":no_entry: &lt;@U1&gt; is not an approver")


def test_cards_are_built_from_the_stored_records():
    incident = Incident(
        id=12,
        fingerprint="f" * 64,
        monitor="loans-quality",
        dataset="loans",
        pattern="null_spike",
        scope={"partition": "2025-02-03"},
        severity="critical",
        status="remediating",
        title="null_spike on loans (salary)",
        first_seen=datetime(2025, 2, 3, tzinfo=UTC),
        last_seen=datetime(2025, 2, 4, tzinfo=UTC),
        occurrences=4,
        evidence={"findings": [_finding("salary")]},
    )
    run = PlaybookRun(
        id=7,
        incident_id=12,
        playbook="quarantine",
        params={},
        plan={"summary": "Move 2 files", "steps": []},
        plan_hash=PLAN_HASH,
        approval_policy="two_person",
        status="approved",
    )
    card = IncidentCard.from_records(incident, run, approvals=["U1", "U2"])

    assert card.status == "remediating" and card.occurrences == 4
    assert card.findings[0]["column"] == "salary"
    assert card.run == _run(
        status="approved",
        summary="Move 2 files",
        approval_policy="two_person",
        approvals=("U1", "U2"),
    )
    assert "approved by <@U1>, <@U2>" in incident_message(card)["blocks"][-1]["elements"][0]["text"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"plan_hash": PLAN_HASH[:12]}, "64 lowercase hex"),
        ({"status": "done"}, "run status 'done'"),
        ({"approval_policy": "anyone"}, "approval policy"),
        ({"origin": "llm"}, "origin"),
    ],
)
def test_a_run_card_with_impossible_values_is_refused(changes: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        _run(**changes)


@given(
    parts=st.lists(
        st.one_of(
            st.text(alphabet="ab<>&` \n", max_size=20).map(escape),
            st.just(FENCE),
            st.just("<@U123>"),
        ),
        max_size=30,
    ),
    limit=st.integers(min_value=10, max_value=120),
)
def test_clipping_never_breaks_an_entity_a_token_or_a_code_block(parts: list[str], limit: int):
    text = "".join(parts)
    clipped = clip(text, limit)

    assert len(clipped) <= limit
    assert clipped == text or clipped.rstrip("`\n").endswith("…")
    assert not re.search(r"&(?!amp;|lt;|gt;)", clipped)
    assert "<" not in OWN_TOKEN.sub("", clipped)
    if text.count(FENCE) % 2 == 0:
        assert clipped.count(FENCE) % 2 == 0


def test_metric_anomalies_show_their_band_and_multivariate_drift_its_columns():
    anomaly = _finding(
        None,
        None,
        pattern="metric_anomaly",
        method="seasonal_median_mad",
        statistic=812.0,
        threshold=449.5,
        details={
            "metric": "row_count",
            "band_low": 356.7,
            "band_high": 449.5,
            "season": "Tuesday",
            "shape": "level_shift",
        },
    )
    null_rate = _finding(
        "<amount>",
        None,
        pattern="metric_anomaly",
        method="seasonal_median_mad",
        details={"metric": "null_rate", "band_low": 0.0, "band_high": 0.03, "season": "Monday"},
    )
    relations = _finding(
        None,
        0.0,
        pattern="multivariate_drift",
        method="pca_reconstruction",
        details={"top_contributors": [{"column": "x0"}, {"column": "<!here>"}]},
    )
    evidence = _evidence(incident_message(_card(findings=(anomaly, null_rate, relations))))
    assert "row_count: 812 outside the expected 356.7 .. 449.5 for Tuesday" in evidence
    assert "(persistent: a level shift)" in evidence
    assert "&lt;amount&gt;.null_rate" in evidence
    assert "most involved: x0, &lt;!here&gt;" in evidence

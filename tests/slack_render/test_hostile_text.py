"""Text from the data in Slack messages cannot style, quote, link, ping or reorder: mrkdwn
styling characters are neutralised, `& < >` are entities, and control and bidi characters
are stripped; identifiers such as `user_id` stay as they are. Checked on the formatter, on
the incident message, and once through slack_sdk's real client to the fake Slack."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from daemon.slack.cards import IncidentCard, RunCard
from daemon.slack.mrkdwn import (
    BACKTICK_STAND_IN,
    QUOTE_STAND_IN,
    STYLE_STAND_INS,
    clip_plain,
    escape,
    escape_code,
    inline_code,
    table_block,
)
from daemon.slack.render import incident_message
from detectors.results import Finding
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import CHANNEL, detect, drain, slack_config, with_slack, write_data

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
CONTROLS = "\x00\x07\x08\x0b\x0c\x0d\x1b\x7f\x85\x9b"
#: Every character that must never reach Slack from the data.
FORBIDDEN = re.compile(f"[{BIDI}{CONTROLS}]")
HOSTILE = (
    "*bold* _italic_ ~strike~ `code` ```block```\n> quoted <!channel> <@U1> "
    "<http://evil|click> &amp; \u202eexe.live\u202c \u2066iso\u2069 bell\x07 esc\x1b[31m"
)
PLAN_HASH = "ab" * 32


def _styling_from(text: str) -> list[str]:
    """The styling a Slack client could apply to `text`: a `*`, `_` or `~` at a word
    boundary, any backtick, or a `>` (raw or as `&gt;`) that starts a line."""
    found = re.findall(r"(?<![^\W_])[*_~]|[*_~](?![^\W_])|`", text)
    found += re.findall(r"^(?:>|&gt;)", text, flags=re.MULTILINE)
    return found


def test_escape_neutralises_every_kind_of_markup():
    shown = escape(HOSTILE)

    assert not FORBIDDEN.search(shown)
    assert _styling_from(shown) == []
    assert "<" not in shown and ">" not in shown
    assert "&lt;!channel&gt;" in shown and "&amp;amp;" in shown
    stand_ins = STYLE_STAND_INS
    assert f"{stand_ins['*']}bold{stand_ins['*']}" in shown
    assert f"{stand_ins['_']}italic{stand_ins['_']}" in shown
    assert f"{stand_ins['~']}strike{stand_ins['~']}" in shown
    assert f"{BACKTICK_STAND_IN}code{BACKTICK_STAND_IN}" in shown
    assert f"\n{QUOTE_STAND_IN} quoted" in shown
    assert "exe.live iso bell esc[31m" in shown  # the letters stay, in their stored order


@pytest.mark.parametrize("name", ["user_id", "a*b", "x~1", "snake_case_2", "naïve_ünï"])
def test_identifiers_between_letters_and_digits_are_kept_exactly(name):
    assert escape(name) == name
    assert escape_code(name) == name


@pytest.mark.parametrize(
    "value, expected",
    [
        ("_leading", "\uff3fleading"),
        ("trailing_", "trailing\uff3f"),
        ("__init__", "\uff3f\uff3finit\uff3f\uff3f"),
        ("a *b* c", "a \u2217b\u2217 c"),
        ("~", "\u223c"),
        ("> at the start", "\uff1e at the start"),
        ("a > b", "a &gt; b"),  # not a quote: only escaped
    ],
)
def test_styling_characters_at_a_word_boundary_are_replaced(value, expected):
    assert escape(value) == expected


def test_code_and_plain_text_lose_controls_and_bidi_but_keep_their_characters():
    assert escape_code("a_*b*\u202e`x`") == f"a_*b*{BACKTICK_STAND_IN}x{BACKTICK_STAND_IN}"
    assert inline_code("\u2066run\x1b") == "`run`"
    assert clip_plain("null\u202e spike\x07 on *x*", 100) == "null spike on *x*"
    table = table_block(("column",), [("\u202e_x_\x07",)])
    assert not FORBIDDEN.search(table) and "_x_" in table  # code: no styling to undo


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return texts


def _plain_texts(message: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "plain_text":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return found


#: Warden's own markup in these messages: its bold labels, its code blocks (the evidence
#: table, where Slack reads no styling) and its code spans (playbook, short plan hash).
_OWN_MARKUP = re.compile(
    r"\*(?:Severity|Status|Dataset|Monitor|Pattern|Occurrences|First seen|Last seen|"
    r"Evidence|Proposed fix)\*|```.*?```|`(?:quarantine|[0-9a-f]{12})`",
    re.DOTALL,
)


def test_an_incident_message_built_from_hostile_data_shows_it_inert():
    hostile_column = "*col*\u202e_x_"
    card = IncidentCard(
        incident_id=12,
        title=f"null_spike on ~loans~ ({hostile_column})",
        severity="critical",
        status="open",
        dataset="~loans~\u2066",
        monitor="> quality",
        pattern="category_emergence",
        scope={"partition": "`2025`\x1b"},
        occurrences=1,
        first_seen=datetime(2025, 2, 3, tzinfo=UTC),
        last_seen=datetime(2025, 2, 3, tzinfo=UTC),
        findings=(
            {
                "pattern": "category_emergence",
                "column": hostile_column,
                "method": "chi2",
                "statistic": 1.0,
                "threshold": 0.5,
                "p_value": None,
                "alert": True,
                "details": {"new_categories": {"_new_\u202e": 3, "*x*": 1}},
            },
        ),
        run=RunCard(
            run_id=7,
            playbook="quarantine",
            status="proposed",
            summary="Move *all* of ~loans~ \u202e",
            plan_hash=PLAN_HASH,
            approval_policy="human",
        ),
    )
    message = incident_message(card)

    for text in _mrkdwn_texts(message):
        assert not FORBIDDEN.search(text), text
        assert _styling_from(_OWN_MARKUP.sub("", text)) == [], text
    for text in _plain_texts(message):
        assert not FORBIDDEN.search(text), text
    assert "\u223cloans\u223c" in str(message["blocks"])
    assert message == incident_message(replace(card))  # still pure


def test_through_slack_sdk_the_fake_slack_receives_inert_text(store, tmp_path):
    """A finding on a hostile column name, detected, written to the outbox and posted with
    slack_sdk's WebClient: what Slack receives holds no bidi or control character and no
    styling from the data."""
    hostile = "*evil*_col_\u202eexe.live\u202c\x07\n> quoted `tick`"
    with FakeSlack() as fake:
        write_data(tmp_path / "data")
        config = slack_config(tmp_path, fake.url)
        with_slack(store, config)
        detect(store, config, finding=Finding("null_spike", hostile, "binomial", 0.3, 0.05, True))
        drain(store, config)
        messages = fake.messages(CHANNEL)

    assert messages
    for message in messages:
        for text in _mrkdwn_texts(message):
            assert not FORBIDDEN.search(text), text
            assert _styling_from(_OWN_MARKUP.sub("", text)) == [], text
        for text in _plain_texts(message):
            assert not FORBIDDEN.search(text), text
    (root,) = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
    assert "(\u2217evil\u2217\uff3fcol_exe.live\n\uff1e quoted" in root["text"]

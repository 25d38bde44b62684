"""`pagerduty:`, `escalations:` and `incidents.group_window` through the real loader: the
issue's example loads as written; each mistake is reported at its place, in words that say
what to write instead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from daemon.config import ConfigError, load_config

KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
BASE = """\
datasets:
  loans: {format: csv, path: loans.csv, time_column: t}
monitors:
  - {name: loans-fresh, kind: freshness, dataset: loans, max_lag: 2h}
slack: {bot_token: "${SLACK_BOT_TOKEN}", channel: C0ONCALL1}
"""
ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "PAGERDUTY_ROUTING_KEY": KEY}
CONTRACT = """\
pagerduty:
  routing_key: ${PAGERDUTY_ROUTING_KEY}
  events_url: https://events.pagerduty.com/v2/enqueue
escalations:
  - name: default
    match: {severity: [critical, warning]}
    steps:
      - {after: 0m, page: pagerduty}
      - {after: 15m, notify: "#ml-oncall-leads", mention: S0614TZR7}
    remind_every: 4h
"""


def _load(tmp_path: Path, text: str, environ=ENV):
    path = tmp_path / "warden.yaml"
    path.write_text(dedent(text))
    return load_config(path, environ=environ)


def _problems(tmp_path: Path, text: str, environ=ENV) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text, environ)
    return {problem.path: problem.message for problem in caught.value.problems}


def test_the_issue_example_loads_as_written(tmp_path: Path):
    config = _load(tmp_path, BASE + CONTRACT + "incidents: {group_window: 10m}\n")
    assert config.pagerduty is not None
    assert config.pagerduty.routing_key.get_secret_value() == KEY
    assert config.pagerduty.events_url == "https://events.pagerduty.com/v2/enqueue"
    (policy,) = config.escalations
    assert [(s.after, s.action) for s in policy.steps] == [
        (timedelta(0), "page"),
        (timedelta(minutes=15), "notify"),
    ]
    assert policy.steps[1].mention == "S0614TZR7" and policy.remind_every == timedelta(hours=4)
    assert config.incidents.group_window == timedelta(minutes=10)
    assert KEY not in config.model_dump_json()  # a secret, never shown


def test_the_routing_key_may_not_be_written_in_the_file(tmp_path: Path):
    problems = _problems(tmp_path, BASE + CONTRACT.replace("${PAGERDUTY_ROUTING_KEY}", KEY))
    assert "secrets may not be written in the file" in problems["pagerduty.routing_key"]


def test_a_malformed_key_and_each_wrong_step_say_what_to_write(tmp_path: Path):
    text = BASE + dedent(
        """\
        pagerduty: {routing_key: "${PAGERDUTY_ROUTING_KEY}", events_url: ftp://pd}
        escalations:
          - name: default
            match: {monitor: loans-frsh}
            steps:
              - {after: 0m, page: pagerduty, notify: C0LEADS01}
              - {after: 5m}
              - {after: 10m, notify: "ml oncall"}
              - {after: 20m, mention: "@oncall"}
          - name: default
            steps: [{after: 1h, mention: S0614TZR7}]
            remind_every: 5m
        incidents: {group_window: 2d}
        """
    )
    problems = _problems(tmp_path, text, {**ENV, "PAGERDUTY_ROUTING_KEY": "short"})
    assert "32-character Integration Key" in problems["pagerduty.routing_key"]
    assert "http:// or https://" in problems["pagerduty.events_url"]
    assert "unknown monitor 'loans-frsh'" in problems["escalations[0].match.monitor"]
    assert "split it into two steps" in problems["escalations[0].steps[0]"]
    assert "needs one of `page: pagerduty`" in problems["escalations[0].steps[1]"]
    assert "not a Slack channel id" in problems["escalations[0].steps[2]"]
    assert "not a Slack user group id (S…)" in problems["escalations[0].steps[3]"]
    assert "is already used at escalations[0].name" in problems["escalations[1].name"]
    assert "at least 15m" in problems["escalations[1]"]
    assert "between 0s and 1d" in problems["incidents.group_window"]


def test_a_page_needs_a_pagerduty_block_and_steps_come_in_order(tmp_path: Path):
    no_pagerduty = BASE + "escalations:\n  - {name: p, steps: [{after: 0m, page: pagerduty}]}\n"
    problems = _problems(tmp_path, no_pagerduty)
    assert any("there is no `pagerduty:` section" in message for message in problems.values())
    disordered = BASE + (
        "escalations:\n  - name: p\n    steps:\n"
        "      - {after: 30m, mention: S0614TZR7}\n      - {after: 15m, notify: C0LEADS01}\n"
    )
    assert "in order of `after`" in _problems(tmp_path, disordered)["escalations[0]"]
    unused = BASE + 'pagerduty: {routing_key: "${PAGERDUTY_ROUTING_KEY}"}\n'
    assert any("no escalation step pages it" in m for m in _problems(tmp_path, unused).values())

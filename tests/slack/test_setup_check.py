"""`warden slack test` against a fake of Slack's Web API over real HTTP: what it checks,
what it says to do, its exit code."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Ran, run_warden
from tests.slack.fake_slack import FakeSlack


def _config(folder: Path, fake: FakeSlack, *, channel: str, groups: str = "[]") -> Path:
    path = folder / "warden.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{folder / 'warden.db'}'}}\n"
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h}\n"
        "slack:\n"
        "  bot_token: ${SLACK_BOT_TOKEN}\n"
        f"  channel: '{channel}'\n"
        f"  api_url: {fake.url}\n"
        f"  approver_groups: {groups}\n"
        "routes:\n"
        "  - {match: {pattern: null_spike}, playbook: quarantine, channel: C0LEADS01}\n"
        "escalations:\n"
        "  - {name: default, steps: [{after: 15m, notify: C0ESCAL01, mention: S0ESCAL01}]}\n"
    )
    return path


def _slack_test(config: Path, folder: Path, token: str, *args: str) -> Ran:
    """`warden slack test -c CONFIG ARGS` with `token` as SLACK_BOT_TOKEN."""
    return run_warden(
        "slack", "test", "-c", str(config), *args, cwd=folder, env={"SLACK_BOT_TOKEN": token}
    )


def _checks(stdout: str) -> dict[str, dict]:
    return {line["check"]: line for line in map(json.loads, stdout.splitlines())}


def test_a_working_setup_passes_every_check_and_posts_a_test_message(tmp_path: Path):
    with FakeSlack(usergroups={"S0614TZR7": ["U1"], "S0ESCAL01": ["U2"]}) as fake:
        config = _config(tmp_path, fake, channel="C0ONCALL1", groups="[S0614TZR7]")
        ran = _slack_test(config, tmp_path, fake.bot_token, "--json")
        posted = fake.messages("C0ONCALL1")
    assert ran.code == 0, ran.stdout + ran.stderr
    checks = _checks(ran.stdout)
    assert {name: c["outcome"] for name, c in checks.items()} == {
        "token": "ok",
        "scopes": "ok",
        "channel C0ONCALL1": "ok",
        "channel C0LEADS01": "ok",
        "channel C0ESCAL01": "ok",  # an escalation step's
        "user group S0614TZR7": "ok",
        "user group S0ESCAL01": "ok",  # the group an escalation step mentions
        "post": "ok",
    }
    assert len(posted) == 1 and "Slack is set up" in posted[0]["text"]


def test_each_problem_is_named_with_what_to_do(tmp_path: Path):
    with FakeSlack(
        usergroups={"S0614TZR7": ["U1"]},
        scopes=("chat:write", "channels:history"),
        member_channels={"C0ONCALL1"},
    ) as fake:
        config = _config(tmp_path, fake, channel="C0ONCALL1", groups="[S0614TZR7, S0NOPE000]")
        ran = _slack_test(config, tmp_path, fake.bot_token, "--json", "--no-post")
        assert fake.calls_to("chat.postMessage") == []
        # The table for people says the same.
        table = _slack_test(config, tmp_path, fake.bot_token, "--no-post")
    assert ran.code == 1
    checks = _checks(ran.stdout)
    assert checks["scopes"]["outcome"] == "failed"
    assert "missing groups:history, usergroups:read" in checks["scopes"]["detail"]
    assert checks["channel C0LEADS01"]["outcome"] == "failed"
    assert (
        checks["channel C0LEADS01"]["fix"] == "invite the bot: /invite <@U0WARDEN> in the channel"
    )
    assert checks["user group S0NOPE000"]["outcome"] == "failed"
    assert "Copy group ID" in checks["user group S0NOPE000"]["fix"]
    assert checks["user group S0ESCAL01"]["outcome"] == "failed"
    assert checks["channel C0ESCAL01"]["outcome"] == "failed"
    assert "post" not in checks
    assert table.code == 1
    assert "not_in_channel" in table.stdout and "Copy group ID" in table.stdout


def test_a_refused_token_a_channel_by_name_and_no_slack_block(tmp_path: Path):
    with FakeSlack(usergroups={"S0ESCAL01": ["U2"]}) as fake:
        config = _config(tmp_path, fake, channel="#ml-oncall")
        refused = _slack_test(config, tmp_path, "xoxb-wrong", "--json")
        by_name = _slack_test(config, tmp_path, fake.bot_token, "--json", "--no-post")
    assert refused.code == 1
    (token,) = _checks(refused.stdout).values()
    assert token["detail"] == "Slack refused the bot token (invalid_auth)"
    assert by_name.code == 0  # a warning, not a failure
    assert _checks(by_name.stdout)["channel #ml-oncall"]["outcome"] == "warning"
    (tmp_path / "bare.yaml").write_text(
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h}\n"
    )
    bare = run_warden("slack", "test", "-c", "bare.yaml", cwd=tmp_path)
    assert bare.code == 2 and "no slack block" in bare.stderr

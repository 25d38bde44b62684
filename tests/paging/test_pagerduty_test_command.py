"""`warden pagerduty test` against the fake Events API over real HTTP: a change event by
default (nobody paged), a triggered and resolved test alert with --trigger, a refused key
named with PagerDuty's words and exit 1, no pagerduty block a usage error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Ran, run_warden
from tests.paging.fake_pagerduty import ROUTING_KEY, FakePagerDuty

WRONG_KEY = "WR0NGKEY000000000000000000000000"


def _config(folder: Path, url: str) -> Path:
    path = folder / "warden.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{folder / 'warden.db'}'}}\n"
        "pagerduty:\n"
        "  routing_key: ${PAGERDUTY_ROUTING_KEY}\n"
        f"  events_url: {url}\n"
        "escalations:\n"
        "  - {name: default, steps: [{after: 0m, page: pagerduty}]}\n"
    )
    return path


def _test(config: Path, key: str, *args: str) -> Ran:
    return run_warden(
        "pagerduty",
        "test",
        "-c",
        str(config),
        *args,
        cwd=config.parent,
        env={"PAGERDUTY_ROUTING_KEY": key},
    )


def test_a_change_event_proves_the_key_without_paging(tmp_path: Path):
    with FakePagerDuty() as fake:
        ran = _test(_config(tmp_path, fake.url), ROUTING_KEY, "--json")
        (change,) = fake.change_events
        assert fake.alerts == []
    assert ran.code == 0, ran.stdout + ran.stderr
    (check,) = map(json.loads, ran.stdout.splitlines())
    assert check == {"check": "change event", "ok": True, "detail": "Change event processed"}
    assert change["summary"].startswith("Warden's setup test")


def test_trigger_pages_and_resolves_a_test_alert(tmp_path: Path):
    with FakePagerDuty() as fake:
        ran = _test(_config(tmp_path, fake.url), ROUTING_KEY, "--trigger")
        (alert,) = fake.alerts
    assert ran.code == 0, ran.stdout + ran.stderr
    assert "trigger: ok" in ran.stdout and "resolve: ok" in ran.stdout
    assert (alert.severity, alert.status) == ("info", "resolved")


def test_a_refused_key_says_what_pagerduty_said(tmp_path: Path):
    with FakePagerDuty() as fake:
        config = _config(tmp_path, fake.url)
        refused = _test(config, WRONG_KEY)
        triggered = _test(config, WRONG_KEY, "--trigger", "--json")
    assert refused.code == 1
    assert "change event: failed PagerDuty refused the event (400)" in refused.stdout
    assert "Invalid routing key" in refused.stdout
    assert triggered.code == 1
    checks = [json.loads(line) for line in triggered.stdout.splitlines()]
    assert [c["check"] for c in checks] == ["trigger"]  # nothing to resolve
    (tmp_path / "bare.yaml").write_text("datasets: {}\n")
    bare = run_warden("pagerduty", "test", "-c", "bare.yaml", cwd=tmp_path)
    assert bare.code == 2 and "no pagerduty block" in bare.stderr

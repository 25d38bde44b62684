"""Every --since/--until takes the same forms through one parser (an ISO 8601 time, or a
duration back from now), an empty range is refused, and `audit log --action` knows the
actions Warden writes."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.reporting.queries import AUDIT_ACTIONS

from .conftest import run_warden

REPO = Path(__file__).resolve().parents[2]
TIME_COMMANDS = [("report",), ("incidents", "list"), ("audit", "log")]
FORMS = (
    "an ISO 8601 date or time (2025-02-01, 2025-02-01T06:00Z; naive means UTC) or a duration "
    "back from now (a positive integer and a unit s, m, h, d or w: 90m, 12h, 7d)"
)


def _warden(home: Path, *args: str):
    return run_warden(*args, "-c", "my-demo/warden.yaml", cwd=home)


def _patterns(home: Path, *args: str) -> set[str]:
    listed = _warden(home, "incidents", "list", "--json", *args)
    assert listed.code == 0, listed.stderr
    return {json.loads(line)["pattern"] for line in listed.stdout.splitlines()}


@pytest.mark.parametrize("command", TIME_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_a_bad_time_gets_one_message_naming_both_forms(demo_folder, command, option):
    home, _ = demo_folder
    ran = _warden(home, *command, option, "3x")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.strip() == f"Usage error. {option} '3x' is not a time: write {FORMS}"


def test_incidents_list_takes_durations_and_iso_times(demo_folder):
    home, _ = demo_folder
    everything = {
        "missing_partition",
        "feature_drift",
        "prediction_drift",
        "label_drift",
        "null_spike",
        # the pictures' problems, found by the last scan (12 February)
        "corrupt_asset",
        "duplicate_asset",
        "near_duplicate_asset",
    }
    assert _patterns(home, "--since", "3000d") == everything
    # Last seen at or after 11 Feb, written as a duration back from now: the null spike was
    # last seen on the 10th; the others on the 12th.
    days = (datetime.now(UTC) - datetime(2025, 2, 11, tzinfo=UTC)).days
    assert _patterns(home, "--since", f"{days}d") == everything - {"null_spike"}
    assert _patterns(home, "--since", "2025-02-11") == everything - {"null_spike"}
    # First seen before 6 Feb: only the missing partition (first seen on the 5th).
    assert _patterns(home, "--until", "2025-02-06T00:00:00Z") == {"missing_partition"}
    assert _patterns(home, "--until", "1d") == everything
    none = _warden(home, "incidents", "list", "--since", "1d")
    assert none.code == 0 and none.stdout.strip() == "No incidents match."


def test_audit_log_times_are_recording_times_with_durations(demo_folder):
    home, _ = demo_folder
    recent = _warden(home, "audit", "log", "--since", "1d", "--json")
    assert recent.code == 0 and len(recent.stdout.splitlines()) > 10
    # The demo replays February 2025, but it recorded everything just now.
    before = _warden(home, "audit", "log", "--until", "1d")
    assert before.code == 0 and before.stdout.strip() == "No audit events match."


def test_report_takes_an_until_duration(demo_folder):
    home, _ = demo_folder
    ran = _warden(home, "report", "--since", "3000d", "--until", "30d", "--json")
    assert ran.code == 0, ran.stderr
    # Every demo incident was first seen in February 2025, long before 30 days ago.
    everything = json.loads(_warden(home, "report", "--since", "3000d", "--json").stdout)
    assert json.loads(ran.stdout)["incidents"] == everything["incidents"] >= 5


@pytest.mark.parametrize("command", TIME_COMMANDS, ids=" ".join)
def test_since_after_until_is_an_error_not_an_empty_result(demo_folder, command):
    home, _ = demo_folder
    ran = _warden(home, *command, "--since", "2025-02-08", "--until", "2025-02-01")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.strip() == (
        "Usage error. --since 2025-02-08 (2025-02-08 00:00 UTC) is not before --until "
        "2025-02-01 (2025-02-01 00:00 UTC): the range is empty"
    )


def test_report_since_in_the_future_is_an_error(demo_folder):
    home, _ = demo_folder
    ran = _warden(home, "report", "--since", "2999-01-01")
    assert ran.code == 2
    assert ran.stderr.strip() == (
        "Usage error. --since 2999-01-01 (2999-01-01 00:00 UTC) is not before now: "
        "the range is empty"
    )


def test_audit_log_refuses_an_unknown_action_and_suggests_one(demo_folder):
    home, _ = demo_folder
    bogus = _warden(home, "audit", "log", "--action", "bogus")
    assert bogus.code == 2 and bogus.stdout == ""
    assert bogus.stderr.startswith(
        "Usage error. --action 'bogus' is not an audit action. "
        "Families: agent, daemon, escalation, group, incident, lineage, page, proposal, "
        "quarantine, run, scan, silence, slack, token; "
        "actions: agent.decided, agent.escalated, agent.failed, agent.invalid, agent.proposed, "
        "agent.started, daemon.presumed_dead, escalation.notify_failed, escalation.step_fired,"
    )
    cut_short = _warden(home, "audit", "log", "--action", "incident.ack")
    assert cut_short.code == 2
    assert "is not an audit action (did you mean 'incident.acknowledged'?)" in cut_short.stderr
    typo = _warden(home, "audit", "log", "--action", "incdent")
    assert typo.code == 2 and "(did you mean 'incident'?)" in typo.stderr


def test_audit_log_accepts_known_actions_and_families(demo_folder):
    home, _ = demo_folder
    # Known, though nothing failed in the demo: an empty answer, not an error.
    failed = _warden(home, "audit", "log", "--action", "run.failed")
    assert failed.code == 0 and failed.stdout.strip() == "No audit events match."
    family = _warden(home, "audit", "log", "--action", "incident.", "--json")
    actions = {json.loads(line)["action"] for line in family.stdout.splitlines()}
    assert actions == {
        "incident.opened",
        "incident.routed",
        "incident.updated",
        "incident.resolved",
        "incident.remediating",  # the pictures' quarantines, approved in the demo
    }


def _audit_actions_in(path: Path) -> list[ast.expr]:
    """The `action=` arguments of the `append_audit` calls in a source file."""
    return [
        keyword.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "append_audit"
        for keyword in node.keywords
        if keyword.arg == "action"
    ]


def test_audit_actions_list_every_action_the_code_writes():
    """Each `append_audit(action=...)` under daemon/ and playbooks/ names a listed action
    (or, for an f-string, a listed family prefix), so `--action` never refuses a real one."""
    sources = [*(REPO / "daemon").rglob("*.py"), *(REPO / "playbooks").rglob("*.py")]
    missing, seen = [], 0
    for path in sources:
        for value in _audit_actions_in(path):
            seen += 1
            if isinstance(value, ast.JoinedStr):
                head = value.values[0]
                prefix = head.value if isinstance(head, ast.Constant) else ""
                known = bool(prefix) and any(a.startswith(prefix) for a in AUDIT_ACTIONS)
            else:
                known = isinstance(value, ast.Constant) and value.value in AUDIT_ACTIONS
            if not known:
                missing.append(f"{path.relative_to(REPO)}: {ast.unparse(value)}")
    assert seen > 10 and missing == []

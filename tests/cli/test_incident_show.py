"""`warden incidents show` as a person reads it: routing and silencing details in the
timeline, the categories a `category_emergence` finding saw first, one output format at a
time; and `silences add` refuses a silence that is already over."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.daemon.engine_cases import AT, START, events_table

from .conftest import run_warden


@pytest.fixture(scope="module")
def events_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight days of events whose last day drifts and brings a new category (`refund`),
    one drift scan of that day with a route naming a channel, and the new category silenced
    beforehand."""
    home = tmp_path_factory.mktemp("events")
    pq.write_table(events_table(), home / "events.parquet")
    (home / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n"
        "  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - name: drift\n    kind: drift\n    dataset: events\n    window: 1d\n"
        f"    reference: {{start: '{START.isoformat()}', "
        f"end: '{(START + timedelta(days=7)).isoformat()}'}}\n"
        "routes:\n"
        "  - {name: notify-drift, match: {pattern: feature_drift}, playbook: null, "
        "channel: '#ml-oncall'}\n"
    )
    silenced = run_warden(
        *("silences", "add", "-c", "warden.yaml", "--pattern", "category_emergence"),
        *("--start", "2025-01-01", "--for", "1000w", "--reason", "refunds launch"),
        cwd=home,
    )
    assert silenced.code == 0, silenced.stderr
    scanned = run_warden("scan", "-c", "warden.yaml", "--at", AT.isoformat(), cwd=home)
    assert scanned.code == 0, scanned.stderr
    return home


def _incident(home: Path, pattern: str) -> dict:
    listed = run_warden("incidents", "list", "-c", "warden.yaml", "--json", cwd=home)
    assert listed.code == 0, listed.stderr
    (row,) = [r for r in map(json.loads, listed.stdout.splitlines()) if r["pattern"] == pattern]
    return row


def _timeline(shown: str) -> list[str]:
    """The timeline lines without their times: `actor action details`."""
    lines = shown.split("Timeline\n", 1)[1].splitlines()
    return [" ".join(line.split()[2:]) for line in lines]


def test_timeline_shows_the_route_and_the_silence(events_home: Path):
    drift = _incident(events_home, "feature_drift")
    assert "amount" in drift["columns"]
    shown = run_warden("incidents", "show", str(drift["id"]), "-c", "warden.yaml", cwd=events_home)
    assert shown.code == 0, shown.stderr
    assert _timeline(shown.stdout) == [
        f"scanner incident.opened columns={','.join(drift['columns'])}",
        "scanner incident.routed rule=notify-drift playbook=- approval=human channel=#ml-oncall",
    ]
    new_kind = _incident(events_home, "category_emergence")
    shown = run_warden(
        "incidents", "show", str(new_kind["id"]), "-c", "warden.yaml", cwd=events_home
    )
    assert _timeline(shown.stdout) == [
        "scanner incident.opened columns=kind",
        "scanner incident.silenced by=silence:1",
    ]


def test_category_emergence_lists_the_new_categories(events_home: Path):
    new_kind = _incident(events_home, "category_emergence")
    as_json = run_warden(
        "incidents", "show", str(new_kind["id"]), "-c", "warden.yaml", "--json", cwd=events_home
    )
    (finding,) = json.loads(as_json.stdout)["evidence"]["findings"]
    refunds = finding["details"]["new_categories"]["refund"]
    assert finding["details"] == {"new_categories": {"refund": refunds}, "new_category_count": 1}
    shown = run_warden(
        "incidents", "show", str(new_kind["id"]), "-c", "warden.yaml", cwd=events_home
    )
    assert f"\nNew categories in kind: refund ({refunds} rows)\n" in shown.stdout


def test_show_refuses_two_output_formats(events_home: Path):
    drift = _incident(events_home, "feature_drift")
    both = run_warden(
        *("incidents", "show", str(drift["id"]), "-c", "warden.yaml", "--json", "--csv"),
        cwd=events_home,
    )
    assert both.code == 2 and both.stdout == ""
    assert both.stderr.strip() == "Usage error. choose one of --json and --csv"


def test_routed_line_in_the_demo_names_the_default_route(demo_folder):
    home, _ = demo_folder
    listed = run_warden(
        *("incidents", "list", "-c", "my-demo/warden.yaml", "--json", "--pattern"),
        "feature_drift",
        cwd=home,
    )
    drift = json.loads(listed.stdout)
    shown = run_warden("incidents", "show", str(drift["id"]), "-c", "my-demo/warden.yaml", cwd=home)
    timeline = _timeline(shown.stdout)
    assert timeline[:2] == [
        "scanner incident.opened columns=region,salary",
        "scanner incident.routed rule=default playbook=relabel_batch approval=human channel=-",
    ]
    # Rich markup must not eat the route's bracketed note.
    assert "Proposed: relabel_batch (human approval) [default route]" in shown.stdout


def test_silence_that_has_already_ended_is_refused(events_home: Path):
    ran = run_warden(
        *("silences", "add", "-c", "warden.yaml", "--dataset", "events"),
        *("--start", "2025-01-01", "--for", "2d", "--reason", "too late"),
        cwd=events_home,
    )
    assert ran.code == 2 and ran.stdout == ""
    message = ran.stderr.strip()
    assert message.startswith(
        "Usage error. --start 2025-01-01 --for 2d ends at 2025-01-03 00:00 UTC, which has "
        "already passed (now "
    )
    assert message.endswith(
        " UTC), so it would silence nothing from now on; give a later --start or a longer --for"
    )
    listed = run_warden("silences", "list", "-c", "warden.yaml", "--all", "--json", cwd=events_home)
    assert [json.loads(line)["reason"] for line in listed.stdout.splitlines()] == ["refunds launch"]

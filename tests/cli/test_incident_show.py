"""`warden incidents show` as a person reads it: routing and silencing details in the
timeline, the categories a `category_emergence` finding saw first, one output format at a
time, tiny p-values; `incidents list` on an 80-column terminal; and `silences add` refuses a
silence that is already over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon.engine_cases import AT

from .conftest import drifting_events_with_silence, run_warden


@pytest.fixture(scope="module")
def events_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight days of events whose last day drifts and brings a new category (`refund`),
    one drift scan of that day with a route naming a channel, and the new category silenced
    beforehand."""
    home = drifting_events_with_silence(
        tmp_path_factory.mktemp("events"),
        "routes:\n"
        "  - {name: notify-drift, match: {pattern: feature_drift}, playbook: null, "
        "channel: '#ml-oncall'}\n",
    )
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
        "scanner group.opened policy=- channel=#ml-oncall",
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
    assert timeline[:3] == [
        "scanner incident.opened columns=region,salary",
        "scanner group.opened policy=- channel=-",
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


def test_incidents_list_fits_80_columns_one_line_per_incident(demo_folder):
    """At 80 columns the id, status, pattern, scope and proposal stay, one line each; the
    columns left out are named. A wide console shows every column, nothing cut."""
    home, _ = demo_folder
    config = ("-c", "my-demo/warden.yaml")
    listed = run_warden("incidents", "list", *config, "--json", cwd=home)
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    narrow = run_warden("incidents", "list", *config, cwd=home, env={"COLUMNS": "80"})
    assert narrow.code == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in lines
        if line.startswith("│")
    ]
    assert rows == [
        [
            str(incident["id"]),
            incident["status"],
            incident["pattern"],
            # A partition reads to the minute, as the table's times do.
            ", ".join(incident["columns"])
            or incident["scope"].get("partition", "-")[:16].replace("T", " "),
            incident["route"]["playbook"] or "notify",  # the pictures' near copy
        ]
        for incident in incidents
    ]
    assert "Not shown at this width: seen, dataset, first seen, severity; see --json." in (
        " ".join(narrow.stdout.split())
    )
    wide = run_warden("incidents", "list", *config, cwd=home)
    header = next(line for line in wide.stdout.splitlines() if "first seen" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        *("id", "status", "severity", "pattern", "dataset", "scope"),
        *("seen", "first seen", "proposed"),
    ]
    assert "Not shown" not in wide.stdout and "…" not in wide.stdout


def test_tiny_p_values_are_kept_and_shown_in_scientific_notation(demo_folder):
    """The demo's salary drift has a corrected p-value far below 1e-12: it is stored as it
    is (not rounded to 0) and the evidence table prints it in scientific notation."""
    home, _ = demo_folder
    config = ("-c", "my-demo/warden.yaml")
    listed = run_warden(
        "incidents", "list", *config, "--json", "--pattern", "feature_drift", cwd=home
    )
    drift = json.loads(listed.stdout)
    as_json = run_warden("incidents", "show", str(drift["id"]), *config, "--json", cwd=home)
    findings = json.loads(as_json.stdout)["evidence"]["findings"]
    stored = {f["column"]: f["p_value"] for f in findings}["salary"]
    assert 0.0 < stored < 1e-12
    shown = run_warden("incidents", "show", str(drift["id"]), *config, cwd=home)
    evidence = {
        cells[0]: cells
        for line in shown.stdout.splitlines()
        if line.startswith("│")
        for cells in [[cell.strip() for cell in line.strip("│").split("│")]]
    }
    assert evidence["salary"][1:] == ["wasserstein", "1.035", "0.1", f"{stored:.3g}"]
    assert all(cells[-1] != "0" for cells in evidence.values())

"""What `warden scan` tells a person and a machine beyond the verdicts: which incidents a
silence held (recorded, not routed), and that scanning a time again replaced its result."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.daemon.engine_cases import AT

from .conftest import drifting_events_with_silence, run_warden

SCAN = ("scan", "-c", "warden.yaml", "--at", AT.isoformat())


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Eight days of events whose last day drifts and brings a new category, the new
    category silenced beforehand, and one drift scan of the last day (its --json report)."""
    home = drifting_events_with_silence(tmp_path_factory.mktemp("scan-output"))
    ran = run_warden(*SCAN, "--json", cwd=home)
    assert ran.code == 0, ran.stderr
    return home, json.loads(ran.stdout)


def _incident_ids(home: Path) -> dict[str, int]:
    listed = run_warden("incidents", "list", "-c", "warden.yaml", "--json", cwd=home)
    return {row["pattern"]: row["id"] for row in map(json.loads, listed.stdout.splitlines())}


def test_scan_says_which_incidents_a_silence_held(scanned: tuple[Path, dict]):
    home, report = scanned
    ids = _incident_ids(home)
    new_kind, drift = ids["category_emergence"], ids["feature_drift"]
    # Additive: the old keys stay, `incidents` names the silence per incident.
    assert sorted(report["incident_ids"]) == sorted([new_kind, drift])
    assert sorted(report["incidents"], key=lambda item: item["id"]) == sorted(
        [{"id": new_kind, "silenced_by": "silence:1"}, {"id": drift, "silenced_by": None}],
        key=lambda item: item["id"],
    )
    table = run_warden(*SCAN, cwd=home)
    assert table.code == 0, table.stderr
    assert f"#{new_kind} silenced" in table.stdout
    assert f"#{drift} silenced" not in table.stdout
    assert f"Silenced, so recorded but not routed: #{new_kind} by silence:1." in table.stdout


def test_scanning_a_time_again_replaces_its_result_and_says_so(scanned: tuple[Path, dict]):
    home, first = scanned
    assert first["replaces"] is None  # the first scan of that time
    again = run_warden(*SCAN, "--json", cwd=home)
    report = json.loads(again.stdout)
    assert report["scan_run_id"] == first["scan_run_id"]
    assert report["replaces"]["status"] == "alert"
    assert report["replaces"]["claimed_by"] == "cli"
    table = run_warden(*SCAN, cwd=home)
    assert "Scanned at this time before (drift): these results replace the earlier" in (
        " ".join(table.stdout.split())
    )
    audit = run_warden(
        "audit", "log", "-c", "warden.yaml", "--action", "scan.completed", "--json", cwd=home
    )
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    # One event per scan of the time, all about the same scan run; only the first replaces
    # nothing, and each later one names the result it replaced.
    assert len(events) >= 2
    assert {event["entity_id"] for event in events} == {str(first["scan_run_id"])}
    assert [event["payload"]["replaces"] is None for event in events] == [True] + [False] * (
        len(events) - 1
    )
    for earlier, later in itertools.pairwise(events):
        assert later["payload"]["replaces"]["status"] == earlier["payload"]["status"]

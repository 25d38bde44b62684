"""`warden report`: MTTA and MTTR on the clock that recorded things (a replayed scan is not
months old), every count column for every pattern seen, and help that reads as paragraphs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import run_warden, warden_in_demo

COLUMNS = ["opened", "active", "resolved", "closed", "false_alarms"]


def _recorded(home: Path, incident_id: int) -> dict[str, datetime]:
    """When each action about the incident was recorded (the audit trail's `at`)."""
    log = warden_in_demo(home, "audit", "log", "--incident", str(incident_id), "--json")
    return {
        event["action"]: datetime.fromisoformat(event["at"])
        for event in map(json.loads, log.stdout.splitlines())
    }


def test_by_pattern_and_by_dataset_have_every_column_with_zeros(demo_folder):
    home, _ = demo_folder
    ran = warden_in_demo(home, "report", "--since", "3000d", "--json")
    assert ran.code == 0, ran.stderr
    report = json.loads(ran.stdout)
    # Expected from `incidents list` (other tests may scan the shared demo again).
    listed = [
        json.loads(line)
        for line in warden_in_demo(home, "incidents", "list", "--json").stdout.splitlines()
    ]
    expected: dict[str, dict[str, int]] = {}
    by_dataset: dict[str, dict[str, int]] = {}
    for row in listed:
        for counts in (
            expected.setdefault(row["pattern"], dict.fromkeys(COLUMNS, 0)),
            by_dataset.setdefault(row["dataset"], dict.fromkeys(COLUMNS, 0)),
        ):
            counts["opened"] += 1
            active = row["status"] in ("open", "acknowledged", "remediating")
            counts["active" if active else row["status"]] += 1
            counts["false_alarms"] += int(row["false_alarm"])
    assert report["by_pattern"] == dict(sorted(expected.items()))
    assert report["by_pattern"]["feature_drift"] == dict(zip(COLUMNS, [1, 1, 0, 0, 0], strict=True))
    assert report["by_dataset"] == dict(sorted(by_dataset.items()))
    assert set(by_dataset) == {"loans", "photos"}
    # Zeros are kept, in the same order as the table's and the CSV's columns.
    assert all(list(counts) == COLUMNS for counts in report["by_pattern"].values())
    csv_rows = warden_in_demo(home, "report", "--since", "3000d", "--csv").stdout.splitlines()
    assert csv_rows[0] == "group,name," + ",".join(COLUMNS)
    assert "pattern,feature_drift,1,1,0,0,0" in csv_rows


def test_mtta_and_mttr_run_on_recording_times_not_replayed_scan_times(demo_copy: Path):
    home = demo_copy
    rows = warden_in_demo(home, "incidents", "list", "--json").stdout.splitlines()
    listed = [json.loads(row) for row in rows]
    (drift,) = [row for row in listed if row["pattern"] == "feature_drift"]
    (spike,) = [row for row in listed if row["pattern"] == "null_spike"]  # resolved itself
    resolved_ids = [row["id"] for row in listed if row["status"] == "resolved"]
    assert warden_in_demo(home, "incidents", "ack", str(drift["id"]), "--as", "alice").code == 0

    ran = warden_in_demo(home, "report", "--since", "3000d", "--json")
    report = json.loads(ran.stdout)
    acked = _recorded(home, drift["id"])
    mtta = (acked["incident.acknowledged"] - acked["incident.opened"]).total_seconds()
    # Also acknowledged: the pictures' two problems, when the demo approved their quarantine.
    approved = [
        (moments["incident.remediating"] - moments["incident.opened"]).total_seconds()
        for moments in (_recorded(home, row["id"]) for row in listed)
        if "incident.remediating" in moments
    ]
    assert len(approved) == 2
    every = sorted([mtta, *approved])
    assert report["mtta_seconds"] == {
        "count": 3,
        "mean": pytest.approx(sum(every) / 3),
        "median": pytest.approx(every[1]),
    }
    # The demo replays February 2025, but it opened the incident moments before the ack.
    assert 0 < mtta < 3600
    # Resolved: the null spike by itself, the pictures' two problems by their quarantine.
    times = [
        (moments["incident.resolved"] - moments["incident.opened"]).total_seconds()
        for moments in (_recorded(home, incident) for incident in resolved_ids)
    ]
    assert len(times) == 3
    assert report["mttr_seconds"] == {
        "count": 3,
        "mean": pytest.approx(sum(times) / 3),
        "median": pytest.approx(sorted(times)[1]),
    }
    resolved = _recorded(home, spike["id"])
    mttr = (resolved["incident.resolved"] - resolved["incident.opened"]).total_seconds()
    assert 0 < mttr < 600  # two replayed clean scans, seconds apart; not two days

    text = warden_in_demo(home, "report", "--since", "3000d")
    assert text.code == 0, text.stderr
    printed = " ".join(text.stdout.split())
    assert "MTTA and MTTR run from when Warden recorded the incident" in printed
    assert "a scan replayed with `warden scan --at` counts when it ran." in printed


def test_report_refuses_json_and_csv_together(demo_folder):
    home, _ = demo_folder
    ran = warden_in_demo(home, "report", "--json", "--csv")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.strip() == "Usage error. choose one of --json and --csv"


def _panel_rows(help_text: str, panel: str) -> list[str]:
    """The rows of a help panel (`Commands`, `Options`), without their borders."""
    rows, inside = [], False
    for line in help_text.splitlines():
        if line.startswith(f"╭─ {panel} "):
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside:
            rows.append(line.strip("│ ").rstrip())
    return rows


def test_help_summaries_read_as_paragraphs(tmp_path: Path):
    root = run_warden("--help", cwd=tmp_path)
    commands = _panel_rows(root.stdout, "Commands")
    (report_row,) = [row for row in commands if row.startswith("report ")]
    after = commands[commands.index(report_row) + 1]
    assert report_row.split(None, 1)[1] == (
        "Report on incidents first seen in a period: counts, MTTA, MTTR, how they ended, "
        "false alarms."
    )
    assert not after.startswith(" "), "the report summary continues on a second line"

    for group in ("incidents", "silences", "audit"):
        rows = _panel_rows(run_warden(group, "--help", cwd=tmp_path).stdout, "Commands")
        assert rows and all(not row.startswith(" ") for row in rows), (group, rows)

    ack = run_warden("incidents", "ack", "--help", cwd=tmp_path).stdout
    assert "Acknowledge an incident: someone is working on it." in ack
    # Help is rendered as Markdown: `warden report` shows as code, without the backticks.
    assert "Its time to acknowledge (MTTA in warden report) is measured up to this moment." in ack
    assert "clock" not in ack

    report = run_warden("report", "--help", cwd=tmp_path).stdout
    assert (
        "MTTA and MTTR run from when Warden recorded the incident to when its first "
        "acknowledgement (by a person, or a remediation starting) and its resolution were "
        "recorded." in " ".join(report.split())
    )

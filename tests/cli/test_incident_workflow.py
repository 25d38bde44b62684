"""An on-call engineer's workflow from the command line, on a copy of the demo's store:
acknowledge and close incidents, silence a dataset, read the report and the audit trail,
and catch a tampered trail."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import warden_in_demo


def _incidents(home: Path) -> dict[str, dict]:
    listed = warden_in_demo(home, "incidents", "list", "--json")
    assert listed.code == 0, listed.stderr
    return {row["pattern"]: row for row in map(json.loads, listed.stdout.splitlines())}


def test_acknowledge_and_close_as_false_alarm(demo_copy: Path):
    home = demo_copy
    drift = _incidents(home)["feature_drift"]
    assert drift["route"]["playbook"] == "relabel_batch"
    acked = warden_in_demo(home, "incidents", "ack", str(drift["id"]), "--as", "alice")
    assert acked.code == 0 and "acknowledged" in acked.stdout
    again = warden_in_demo(home, "incidents", "ack", str(drift["id"]), "--as", "alice")
    assert again.code == 2 and "cannot become acknowledged" in again.stderr
    unexplained = warden_in_demo(home, "incidents", "close", str(drift["id"]))
    assert unexplained.code == 2 and "--reason" in unexplained.stderr
    closed = warden_in_demo(
        home,
        "incidents",
        "close",
        str(drift["id"]),
        "--as",
        "bob",
        "--reason",
        "marketing campaign shifted salaries",
        "--false-alarm",
    )
    assert closed.code == 0, closed.stderr
    row = _incidents(home)["feature_drift"]
    assert row["status"] == "closed" and row["false_alarm"] is True
    assert row["closed_reason"] == "marketing campaign shifted salaries"
    assert row["acknowledged_at"] is not None

    report = warden_in_demo(home, "report", "--since", "3000d", "--json")
    assert report.code == 0, report.stderr
    summary = json.loads(report.stdout)
    # Five about the loans, three about the pictures (two of them ended by a quarantine).
    assert summary["incidents"] == 8
    assert summary["endings"]["closed"] == 1 and summary["endings"]["recovered_by_itself"] == 1
    assert summary["false_alarm_rate"] == pytest.approx(1 / 4)  # 1 of the 4 that ended
    assert summary["by_pattern"]["feature_drift"]["false_alarms"] == 1
    # Acknowledged: the drift by alice, the pictures' two problems by approving quarantine.
    assert summary["mtta_seconds"]["count"] == 3 and summary["mttr_seconds"]["count"] == 3
    as_csv = warden_in_demo(home, "report", "--since", "3000d", "--csv").stdout.splitlines()
    assert as_csv[0] == "group,name,opened,active,resolved,closed,false_alarms"
    assert "pattern,feature_drift,1,0,0,1,1" in as_csv and "dataset,loans,5,3,1,1,1" in as_csv
    timeline = warden_in_demo(
        home, "incidents", "show", str(drift["id"]), "--csv"
    ).stdout.splitlines()
    assert timeline[0].startswith("incident,at,scan_time,actor,action")
    assert timeline[-1].split(",")[4] == "incident.closed"
    text = warden_in_demo(home, "report", "--since", "3000d")
    assert "False-alarm rate: 25.0%" in text.stdout and "MTTR" in text.stdout

    report_file = home / "incident.html"
    shown = warden_in_demo(home, "incidents", "show", str(drift["id"]), "--html", str(report_file))
    assert shown.code == 0 and "Wrote" in shown.stderr
    page = report_file.read_text()
    # salary and region distributions, and salary's mean over the demo's drift scans
    assert page.count("<svg") == 3 and "<script" not in page
    assert "<h2>Metric history</h2>" in page and "<h3>salary · mean</h3>" in page
    assert not list(home.glob("*.partial"))

    log = warden_in_demo(home, "audit", "log", "--incident", str(drift["id"]), "--json")
    actions = [json.loads(line)["action"] for line in log.stdout.splitlines()]
    assert actions[:2] == ["incident.opened", "incident.routed"]
    assert actions[-2:] == ["incident.acknowledged", "incident.closed"]
    by_bob = warden_in_demo(home, "audit", "log", "--actor", "bob", "--csv")
    header, *bob_rows = by_bob.stdout.splitlines()
    assert header.startswith("seq,at,actor,action")
    # Closing also expires the incident's proposed run, when its playbook planned one.
    assert [row.split(",")[3] for row in bob_rows] in (
        ["incident.closed"],
        ["run.expired", "incident.closed"],
    )


def test_silence_a_dataset_then_end_it(demo_copy: Path):
    home = demo_copy
    everything = warden_in_demo(home, "silences", "add", "--reason", "noisy")
    assert everything.code == 2 and "--dataset" in everything.stderr
    typo = warden_in_demo(home, "silences", "add", "--dataset", "lonas", "--reason", "x")
    assert typo.code == 2 and "not one of: loans" in typo.stderr
    added = warden_in_demo(
        home, "silences", "add", "--dataset", "loans", "--for", "2h", "--reason", "backfill"
    )
    assert added.code == 0, added.stderr
    (silence,) = [
        json.loads(line)
        for line in warden_in_demo(home, "silences", "list", "--json").stdout.splitlines()
    ]
    assert silence["dataset"] == "loans" and silence["reason"] == "backfill"
    assert warden_in_demo(home, "silences", "expire", str(silence["id"])).code == 0
    assert "No silence is in effect" in warden_in_demo(home, "silences", "list").stdout
    assert len(warden_in_demo(home, "silences", "list", "--all", "--json").stdout.splitlines()) == 1
    twice = warden_in_demo(home, "silences", "expire", str(silence["id"]))
    assert twice.code == 2 and "already ended" in twice.stderr
    created = warden_in_demo(home, "audit", "log", "--action", "silence", "--json")
    assert [json.loads(line)["action"] for line in created.stdout.splitlines()] == [
        "silence.created",
        "silence.expired",
    ]


def test_audit_verify_names_a_tampered_event(demo_copy: Path):
    home = demo_copy
    intact = warden_in_demo(home, "audit", "verify")
    assert intact.code == 0 and "every link intact" in intact.stdout
    with sqlite3.connect(home / "my-demo" / "warden.db") as connection:
        connection.execute(
            "UPDATE audit_event SET actor = 'mallory' WHERE seq = (SELECT min(seq) + 4 "
            "FROM audit_event)"
        )
    broken = warden_in_demo(home, "audit", "verify", "--json")
    assert broken.code == 4
    outcome = json.loads(broken.stdout)
    assert outcome["ok"] is False and outcome["first_bad_seq"] == 5 and outcome["checked"] == 4

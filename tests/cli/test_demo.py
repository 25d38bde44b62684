"""`warden demo` tells its story, writes only inside its folder, and finds what was injected."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_warden


def test_demo_finds_every_injected_fault_and_nothing_else(demo_folder):
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    assert "Try next:" in ran.stdout
    listed = run_warden("incidents", "list", "--config", "my-demo/warden.yaml", "--json", cwd=home)
    assert listed.code == 0, listed.stderr
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    found = {
        (
            i["pattern"],
            i["status"],
            tuple(i["columns"]) or tuple(str(v)[:10] for v in i["scope"].values()),
        )
        for i in incidents
    }
    assert found == {
        ("missing_partition", "open", ("2025-02-03",)),
        ("feature_drift", "open", ("region", "salary")),
        # The label and the model's scores follow the salary shift, as in real life.
        ("prediction_drift", "open", ("y_pred_proba",)),
        ("label_drift", "open", ("repaid",)),
        ("null_spike", "resolved", ("credit_score",)),
        # The pictures: the cut upload and the byte copy quarantined (approved in the demo),
        # the smaller copy left to a person.
        ("corrupt_asset", "resolved", ()),
        ("duplicate_asset", "resolved", ()),
        ("near_duplicate_asset", "open", ()),
    }
    by_pattern = {i["pattern"]: i for i in incidents}
    assert by_pattern["feature_drift"]["first_seen"].startswith(
        "2025-02-07"
    )  # the first drifted day's scan
    assert by_pattern["null_spike"]["first_seen"].startswith("2025-02-10")
    assert by_pattern["missing_partition"]["proposed_action"].startswith("synthetic_backfill")


def test_demo_writes_nothing_outside_its_folder(demo_folder):
    home, _ = demo_folder
    assert sorted(p.name for p in home.iterdir()) == ["my-demo"]
    assert sorted(
        p.name for p in (home / "my-demo").iterdir() if not p.name.startswith("warden.db")
    ) == [".warden-demo", "data", "warden-work", "warden.yaml"]
    quarantined = home / "my-demo" / "warden-work" / "quarantine"
    assert sorted(p.name for p in quarantined.rglob("*.jpg")) == [
        "photo-000-copy.jpg",
        "upload-cut.jpg",
    ]
    assert (home / "my-demo" / "data" / "photos" / "date=2025-01-29" / "photo-000.jpg").exists()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.txt").write_text("do not touch")
    ran = run_warden("demo", "precious", cwd=tmp_path)
    assert ran.code == 2
    assert "not empty and was not made by `warden demo`" in ran.stderr
    assert (tmp_path / "precious" / "thesis.txt").read_text() == "do not touch"


def test_incident_show_has_evidence_and_timeline(demo_folder):
    home, _ = demo_folder
    listed = run_warden(
        "incidents",
        "list",
        "-c",
        "my-demo/warden.yaml",
        "--json",
        "--pattern",
        "null_spike",
        cwd=home,
    )
    incident_id = json.loads(listed.stdout.splitlines()[0])["id"]
    shown = run_warden(
        "incidents", "show", str(incident_id), "-c", "my-demo/warden.yaml", "--json", cwd=home
    )
    detail = json.loads(shown.stdout)
    assert [event["action"] for event in detail["timeline"]] == [
        "incident.opened",
        "group.opened",  # its group's events are in its timeline too
        "incident.routed",
        "incident.resolved",
        "group.closed",
    ]
    assert detail["route"]["playbook"] == "quarantine" and detail["route"]["rule"] == "default"
    finding = detail["evidence"]["findings"][0]
    assert finding["column"] == "credit_score" and finding["statistic"] > 0.3
    text = run_warden("incidents", "show", str(incident_id), "-c", "my-demo/warden.yaml", cwd=home)
    assert "Evidence" in text.stdout and "quarantine" in text.stdout
    missing = run_warden("incidents", "show", "999", "-c", "my-demo/warden.yaml", cwd=home)
    assert missing.code == 2 and "there is no incident 999" in missing.stderr


def test_demo_shows_its_incidents_grouped(demo_folder):
    """The three drifts one scan opened share a group (one Slack message, one page), as do
    the pictures' three; the missing day and the null spike stand alone."""
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    listed = run_warden("incidents", "list", "-c", "my-demo/warden.yaml", "--json", cwd=home)
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    groups: dict[int, set[str]] = {}
    for incident in incidents:
        groups.setdefault(incident["group"], set()).add(incident["pattern"])
    assert sorted(sorted(patterns) for patterns in groups.values()) == [
        ["corrupt_asset", "duplicate_asset", "near_duplicate_asset"],
        ["feature_drift", "label_drift", "prediction_drift"],
        ["missing_partition"],
        ["null_spike"],
    ]
    assert "┃ group ┃" in ran.stdout  # the demo's summary shows them


def test_incident_list_filters_and_csv(demo_folder):
    home, _ = demo_folder
    active = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--json", "--status", "active", cwd=home
    )
    assert {json.loads(line)["status"] for line in active.stdout.splitlines()} == {"open"}
    csv_out = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--csv", "--dataset", "loans", cwd=home
    )
    header, *rows = csv_out.stdout.strip().splitlines()
    assert header.startswith("id,status,severity,pattern") and len(rows) == 5
    bad = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--status", "sleeping", cwd=home
    )
    assert bad.code == 2 and "is not one of" in bad.stderr

"""CLI input handling found by trying Warden as a new user: each mistake gets a clear answer."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_warden


def test_time_filters_name_their_own_option(demo_folder):
    home, _ = demo_folder
    ran = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--since", "last-week", cwd=home
    )
    assert ran.code == 2 and "--since 'last-week' is not a time: write an ISO 8601" in ran.stderr


def test_json_and_csv_together_and_unknown_choices_are_refused(demo_folder):
    home, _ = demo_folder
    both = run_warden("incidents", "list", "-c", "my-demo/warden.yaml", "--json", "--csv", cwd=home)
    assert both.code == 2 and "choose one of --json and --csv" in both.stderr
    typo = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--pattern", "nul_spike", cwd=home
    )
    assert typo.code == 2 and "did you mean 'null_spike'?" in typo.stderr
    level = run_warden(
        "incidents", "list", "-c", "my-demo/warden.yaml", "--severity", "high", cwd=home
    )
    assert level.code == 2 and "use one of: info, warning, critical" in level.stderr


def test_validate_config_json_reports_problems_as_json(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "monitors:\n  - {name: m, kind: freshness, dataset: nope, max_lag: 1 day}\n"
    )
    ran = run_warden("validate-config", "bad.yaml", "--json", cwd=tmp_path)
    assert ran.code == 2
    verdict = json.loads(ran.stdout)
    assert verdict["valid"] is False
    assert {(p["path"], p["line"]) for p in verdict["problems"]} == {
        ("monitors[0].max_lag", 2),
        ("monitors[0].dataset", 2),
    }


def test_validate_config_warns_about_a_config_without_monitors(tmp_path: Path):
    (tmp_path / "empty.yaml").write_text("monitors: []\n")
    ran = run_warden("validate-config", "empty.yaml", cwd=tmp_path)
    assert ran.code == 0 and "defines no monitors" in ran.stdout
    as_json = json.loads(run_warden("validate-config", "empty.yaml", "--json", cwd=tmp_path).stdout)
    assert as_json["valid"] is True and as_json["warnings"]


def test_unknown_key_points_at_its_own_line(tmp_path: Path):
    (tmp_path / "typo.yaml").write_text(
        "datasets: {d: {format: csv, path: x.csv, time_column: t}}\n"
        "monitors:\n  - name: m\n    kind: freshness\n    dataset: d\n"
        "    max_lag: 2h\n    shedule: {every: 5m}\n"
    )
    ran = run_warden("validate-config", "typo.yaml", cwd=tmp_path)
    assert ran.code == 2 and "monitors[0] (line 7): unknown key 'shedule'" in ran.stderr


def test_run_check_prints_readable_schedules(tmp_path: Path):
    (tmp_path / "w.yaml").write_text(
        "datasets: {d: {format: csv, path: x.csv, time_column: t}}\n"
        "monitors:\n"
        "  - {name: fast, kind: freshness, dataset: d, max_lag: 2h, schedule: {every: 15m}}\n"
        "  - {name: nightly, kind: freshness, dataset: d, max_lag: 2h,"
        " schedule: {cron: '5 0 * * *'}}\n"
    )
    ran = run_warden("run", "--config", "w.yaml", "--check", cwd=tmp_path)
    assert ran.code == 0, ran.stderr
    assert "scheduled fast: every 15m, next " in ran.stdout
    assert 'scheduled nightly: cron "5 0 * * *", next ' in ran.stdout

"""`warden scan --json` keeps the contract of DESIGN.md, and bad input never shows a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_warden

ONE_MONITOR = (
    "datasets: {d: {format: csv, path: x.csv, time_column: t}}\n"
    "monitors: [{name: m, kind: freshness, dataset: d, max_lag: 1h}]\n"
)
FINDING_KEYS = {"pattern", "column", "method", "statistic", "threshold", "p_value", "alert"}


def test_scan_json_contract(demo_folder):
    home, _ = demo_folder
    ran = run_warden("scan", "-c", "my-demo/warden.yaml", "--at", "2025-02-10", "--json", cwd=home)
    assert ran.code == 0, ran.stderr
    reports = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["monitor"] for r in reports] == [
        "loans-drift",
        "loans-quality",
        "loans-freshness",
        "photos-integrity",
    ]
    for report in reports:
        assert {"monitor", "kind", "dataset", "status", "findings", "incident_id"} <= set(report)
        assert report["status"] in {"ok", "alert", "error", "insufficient_data"}
        for finding in report["findings"]:
            assert set(finding) >= FINDING_KEYS
    drift, quality, *_ = reports
    assert drift["status"] == "alert" and isinstance(drift["incident_id"], int)
    assert drift["reference_cached"] is True  # the demo computed it already
    assert quality["status"] == "alert"
    assert {f["column"] for f in quality["findings"] if f["alert"]} == {"credit_score"}


def test_scan_one_monitor_at_a_time_and_unknown_monitor(demo_folder):
    home, _ = demo_folder
    one = run_warden(
        "scan",
        "-c",
        "my-demo/warden.yaml",
        "--at",
        "2025-01-20T00:00:00Z",
        "-m",
        "loans-drift",
        "--json",
        cwd=home,
    )
    report = json.loads(one.stdout)
    assert report["status"] == "ok" and report["incident_id"] is None
    bad = run_warden("scan", "-c", "my-demo/warden.yaml", "-m", "nope", cwd=home)
    assert bad.code == 2 and "unknown monitor(s) nope" in bad.stderr
    bad_time = run_warden("scan", "-c", "my-demo/warden.yaml", "--at", "yesterday", cwd=home)
    assert bad_time.code == 2 and "--at" in bad_time.stderr


def _config(folder: Path, body: str) -> Path:
    path = folder / "warden.yaml"
    path.write_text(body)
    return path


def test_missing_dataset_path_is_a_monitor_error_with_exit_3(tmp_path: Path):
    _config(
        tmp_path,
        "datasets:\n  d: {format: parquet, path: nowhere/, time_column: ts}\n"
        "monitors:\n  - {name: fresh, kind: freshness, dataset: d, max_lag: 1h}\n",
    )
    ran = run_warden("scan", "--json", cwd=tmp_path)
    assert ran.code == 3
    report = json.loads(ran.stdout)
    assert report["status"] == "error" and "does not exist" in report["message"]
    checked = run_warden("validate-config", "warden.yaml", cwd=tmp_path)
    assert (
        checked.code == 2
        and "datasets.d.path" in checked.stderr
        and "does not exist" in checked.stderr
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "pass --config FILE, set WARDEN_CONFIG, or write a starter config"),
        (
            "monitors: [{name: m, kind: magic, dataset: d}]\n"
            "datasets: {d: {format: csv, path: x.csv, time_column: t}}\n",
            "unknown monitor kind 'magic'",
        ),
        ("store: {url: 'postgresql://nobody@127.0.0.1:1/none'}\n" + ONE_MONITOR, "127.0.0.1:1"),
        ("store: {url: 'mysql://x@y/z'}\n" + ONE_MONITOR, "Store error"),
    ],
    ids=["missing-config", "unknown-kind", "unreachable-store", "unsupported-store"],
)
def test_bad_input_is_one_paragraph_and_non_zero(tmp_path: Path, body: str | None, message: str):
    if body is not None:
        _config(tmp_path, body)
    ran = run_warden("scan", cwd=tmp_path, timeout=60)
    assert ran.code == 2
    assert message in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout


def test_every_command_has_help(tmp_path: Path):
    for command in (
        ["--help"],
        ["init", "--help"],
        ["validate-config", "--help"],
        ["scan", "--help"],
        ["run", "--help"],
        ["demo", "--help"],
        ["schema", "--help"],
        ["incidents", "--help"],
        ["incidents", "list", "--help"],
        ["incidents", "show", "--help"],
    ):
        ran = run_warden(*command, cwd=tmp_path)
        assert ran.code == 0, (command, ran.stderr)
        assert "Usage" in ran.stdout


def test_init_then_validate(tmp_path: Path):
    assert run_warden("init", cwd=tmp_path).code == 0
    again = run_warden("init", cwd=tmp_path)
    assert again.code == 2 and "--force" in again.stderr
    checked = run_warden("validate-config", "warden.yaml", "--no-check-data", cwd=tmp_path)
    assert checked.code == 0 and "3 monitor(s)" in checked.stdout


def test_the_starter_names_every_drift_method(tmp_path: Path):
    """The `method:` comment of `warden init` lists `auto` and every registered method."""
    from detectors.drift.registry import METHODS

    assert run_warden("init", cwd=tmp_path).code == 0
    (line,) = [
        line for line in (tmp_path / "warden.yaml").read_text().splitlines() if "# method:" in line
    ]
    listed = line.split("#")[-1].split("|")
    assert sorted(name.strip() for name in listed) == sorted(["auto", *METHODS])


def test_an_engine_out_of_memory_is_a_monitor_error_with_the_knob_to_turn(tmp_path: Path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    rows = 200_000
    times = np.datetime64("2025-01-01T00:00:00", "us") + (np.arange(rows) * 400_000).astype(
        "timedelta64[us]"
    )
    pq.write_table(
        pa.table({"ts": times, **{f"x{i}": rng.normal(0, 1, rows) for i in range(8)}}),
        tmp_path / "d.parquet",
    )
    _config(
        tmp_path,
        "datasets:\n  d: {format: parquet, path: d.parquet, time_column: ts}\n"
        "monitors:\n  - {name: m, kind: drift, dataset: d, window: 12h,"
        " reference: {start: '2025-01-01', end: '2025-01-01T12:00:00'}}\n",
    )
    ran = run_warden(
        "scan",
        "--at",
        "2025-01-02",
        "--json",
        cwd=tmp_path,
        env={"WARDEN_DUCKDB_MEMORY_LIMIT": "1MB"},
    )
    assert ran.code == 3, ran.stderr
    report = json.loads(ran.stdout)
    assert report["status"] == "error"
    assert (
        "ran out of its memory budget; raise it with WARDEN_DUCKDB_MEMORY_LIMIT"
        in report["message"]
    )

"""`warden scan` runs every monitor even when one of them fails: the failing one is reported
as `error` with its message, the others as usual, and the exit code is 3 (DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

import daemon.scan
from daemon.cli.app import app
from daemon.store.engine import open_store
from daemon.store.models import Incident, ScanRun
from tests.daemon.engine_cases import AT
from tests.scan.test_data_values import (
    LONG_STORED,
    LONG_VALUE,
    NUL_STORED,
    NUL_VALUE,
    config_for,
    new_categories,
    write_events,
)

from .conftest import run_warden


def _write_config(folder: Path, store_url: str) -> Path:
    path = folder / "warden.yaml"
    # JSON is YAML: the config exactly as the scan tests build it.
    path.write_text(json.dumps(config_for(folder, store_url).model_dump(mode="json")))
    return path


def test_a_monitor_that_raises_is_an_error_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    write_events(tmp_path / "events.parquet", last_day={})
    config = _write_config(tmp_path, f"sqlite:///{tmp_path / 'warden.db'}")
    real_run_scan = daemon.scan.run_scan

    def run_scan(config, monitor, *args, **kwargs):
        if monitor.name == "drift":
            raise RuntimeError("boom\nsecond line with details")
        return real_run_scan(config, monitor, *args, **kwargs)

    monkeypatch.setattr(daemon.scan, "run_scan", run_scan)
    ran = CliRunner().invoke(
        app, ["scan", "-c", str(config), "--at", AT.isoformat(), "--json"], catch_exceptions=True
    )
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.exception
    assert ran.exit_code == 3, ran.output
    drift, fresh = [json.loads(line) for line in ran.stdout.splitlines()]
    assert (drift["monitor"], drift["status"]) == ("drift", "error")
    assert drift["message"] == "the scan failed: RuntimeError: boom"
    assert (fresh["monitor"], fresh["status"]) == ("fresh", "ok")


def test_scan_of_nul_and_huge_values_records_a_sanitised_capped_incident(
    tmp_path: Path, store_url: str
):
    """End to end, as a user runs it: the real `warden` executable, a Parquet dataset whose
    string column holds a NUL byte and a 100,000-character value, and each store backend."""
    write_events(tmp_path / "events.parquet", last_day={0: NUL_VALUE, 1: LONG_VALUE})
    _write_config(tmp_path, store_url)
    ran = run_warden("scan", "--at", AT.isoformat(), "--json", cwd=tmp_path)
    assert ran.code == 0, ran.stderr[-3000:]
    drift, fresh = [json.loads(line) for line in ran.stdout.splitlines()]
    assert (drift["monitor"], drift["status"]) == ("drift", "alert")
    assert (fresh["monitor"], fresh["status"]) == ("fresh", "ok")
    assert set(new_categories(drift)) == {"refund", NUL_STORED, LONG_STORED}
    store = open_store(store_url)
    try:
        with store.session(readonly=True) as session:
            (incident,) = session.exec(
                select(Incident).where(Incident.pattern == "category_emergence")
            ).all()
            runs = {run.monitor: run.status for run in session.exec(select(ScanRun)).all()}
    finally:
        store.close()
    assert new_categories(incident.evidence) == new_categories(drift)
    assert len(json.dumps(incident.evidence)) < 20_000  # the 100k value is not kept whole
    assert runs == {"drift": "alert", "fresh": "ok"}

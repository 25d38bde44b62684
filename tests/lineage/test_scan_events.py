"""Each scan as an OpenLineage run event: built with the client library, queued with the
scan's result, sent to a server (a local capture of Marquez's API over real HTTP) or a
file, exactly once through crashes, retried through failures, refused ones kept."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from daemon.config import load_config
from daemon.lineage.delivery import LEASE, deliver_due
from daemon.lineage.event_model import OpenLineageRunEvent
from daemon.store.engine import open_store
from daemon.store.lineage_models import LineageEvent
from daemon.store.types import utcnow
from tests.cli.conftest import run_warden
from tests.daemon.engine_cases import START, events_table
from tests.lineage.capture import capture_server

pytest.importorskip("openlineage.client", reason="the `lineage` extra is part of make test")

AT = (START + timedelta(days=8)).isoformat()


def _home(tmp_path: Path, destination: str, extra: str = "") -> Path:
    pq.write_table(events_table(), tmp_path / "events.parquet")
    (tmp_path / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n"
        "  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - name: events-drift\n"
        "    kind: drift\n"
        "    dataset: events\n"
        "    reference: {start: '2025-01-01', end: '2025-01-06'}\n"
        "    window: 1d\n"
        "    columns: [amount, kind]\n"
        f"{extra}"
        "lineage:\n"
        f"  openlineage: {{{destination}, namespace: ml-platform}}\n"
    )
    return tmp_path


def _scan(home: Path, *args: str, env: dict[str, str] | None = None):
    return run_warden("scan", "--at", AT, "--json", *args, cwd=home, env=env)


def _rows(home: Path) -> list[LineageEvent]:
    store = open_store(f"sqlite:///{home / 'warden.db'}")
    try:
        with store.session(readonly=True) as session:
            return list(session.exec(select(LineageEvent).order_by(LineageEvent.id)).all())
    finally:
        store.close()


def _check_with_the_client_classes(event: dict[str, Any]) -> None:
    """Rebuild the event's parts with openlineage-python's generated spec classes: their
    validators check the time, the producer and schema URIs and the run id, and their
    fields refuse any key the spec does not have."""
    from openlineage.client.event_v2 import Job, Run, RunEvent
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    RunEvent(
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        eventType=event["eventType"],
    )
    (dataset,) = event["inputs"]
    for assertion in dataset["facets"]["dataQualityAssertions"]["assertions"]:
        dqa.Assertion(**assertion)
    metrics = dataset["inputFacets"]["dataQualityMetrics"]
    for column in metrics["columnMetrics"].values():
        dqm.ColumnMetrics(**column)


def test_a_scan_is_sent_as_a_run_event_of_its_monitor(tmp_path: Path):
    with capture_server() as server:
        home = _home(tmp_path, f"url: '{server.url}'")
        ran = _scan(home)
        assert ran.code == 0, ran.stderr
        report = json.loads(ran.stdout.splitlines()[0])
    assert report["status"] == "alert"
    (request,) = server.requests
    assert request["path"] == "/api/v1/lineage"
    event = json.loads(request["body"])
    OpenLineageRunEvent.model_validate(event)
    _check_with_the_client_classes(event)
    assert event["eventType"] == "COMPLETE"
    assert event["job"] == {"namespace": "ml-platform", "name": "events-drift", "facets": {}}
    assert event["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2025-01-09")
    (dataset,) = event["inputs"]
    assert (dataset["namespace"], dataset["name"]) == ("file", str(home / "events.parquet"))
    assert dataset["facets"]["version"]["datasetVersion"] == report["dataset_version"]
    assertions = dataset["facets"]["dataQualityAssertions"]["assertions"]
    checks = {(a["assertion"], a["column"]): a for a in assertions}
    alerted = {(f["pattern"], f["column"]) for f in report["findings"] if f["alert"]}
    assert len(assertions) == len(report["findings"])  # one per check, passing or not
    assert {key for key, a in checks.items() if not a["success"]} == alerted
    amount = checks[("feature_drift", "amount")]
    finding = next(f for f in report["findings"] if f["column"] == "amount")
    assert amount["actual"] == str(finding["statistic"])
    assert amount["expected"] == str(finding["threshold"])
    metrics = dataset["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == report["summary"]["current_rows"]
    assert metrics["fileCount"] == 1
    assert set(metrics["columnMetrics"]) == {"amount", "kind"}
    assert metrics["columnMetrics"]["amount"]["nullCount"] == 0
    (row,) = _rows(home)
    assert row.status == "sent" and row.run_id == event["run"]["runId"]
    assert row.scan_run_id == report["scan_run_id"]


def test_a_scan_that_fails_is_a_fail_event_with_its_message(tmp_path: Path):
    home = _home(tmp_path, "file: events.jsonl")
    os.remove(home / "events.parquet")
    ran = _scan(home)
    assert ran.code == 3
    (line,) = (home / "events.jsonl").read_text().splitlines()
    event = json.loads(line)
    OpenLineageRunEvent.model_validate(event)
    assert event["eventType"] == "FAIL"
    assert "does not exist" in event["run"]["facets"]["errorMessage"]["message"]


def test_a_crash_after_appending_to_the_file_appends_nothing_twice(tmp_path: Path):
    home = _home(tmp_path, "file: events.jsonl")
    ran = _scan(home, env={"WARDEN_TEST_STOP_AT": "lineage.sent"})
    assert ran.code == -9  # killed right after the append, before recording it
    assert len((home / "events.jsonl").read_text().splitlines()) == 1
    (row,) = _rows(home)
    assert row.status == "sending"
    config = load_config(str(home / "warden.yaml"))
    assert config.lineage.openlineage is not None
    store = open_store(config.store.url)
    try:
        # The claim expires (its lease); the next sender finds the event in the file.
        done = deliver_due(store, config.lineage.openlineage, now=utcnow() + 2 * LEASE)
    finally:
        store.close()
    assert done.sent == 1
    assert len((home / "events.jsonl").read_text().splitlines()) == 1
    assert _rows(home)[0].status == "sent"


def test_a_crash_before_sending_loses_nothing(tmp_path: Path):
    with capture_server() as server:
        home = _home(tmp_path, f"url: '{server.url}'")
        ran = _scan(home, env={"WARDEN_TEST_STOP_AT": "lineage.claimed"})
        assert ran.code == -9 and not server.requests
        sent = run_warden("lineage", "send", cwd=home)  # the claim holds: nothing yet
        assert sent.code == 0 and "0 sent" in sent.stdout and not server.requests
        config = load_config(str(home / "warden.yaml"))
        assert config.lineage.openlineage is not None
        store = open_store(config.store.url)
        try:
            done = deliver_due(store, config.lineage.openlineage, now=utcnow() + 2 * LEASE)
        finally:
            store.close()
        assert done.sent == 1 and len(server.requests) == 1


def test_server_errors_are_retried_and_refusals_kept(tmp_path: Path):
    with capture_server([500, (429, {"Retry-After": "7"}), 201]) as server:
        home = _home(tmp_path, f"url: '{server.url}'")
        ran = _scan(home)
        assert ran.code == 0 and "1 kept for a later attempt" in ran.stderr
        (row,) = _rows(home)
        assert row.status == "pending" and "answered 500" in (row.last_error or "")
        config = load_config(str(home / "warden.yaml"))
        assert config.lineage.openlineage is not None
        store = open_store(config.store.url)
        try:
            later = utcnow() + timedelta(minutes=10)
            assert deliver_due(store, config.lineage.openlineage, now=later).retried == 1
            with store.session(readonly=True) as session:
                waiting = session.exec(select(LineageEvent)).one()
            wait = waiting.next_attempt_at - utcnow()
            assert timedelta(seconds=5) < wait <= timedelta(seconds=7)  # as the server said
            assert deliver_due(store, config.lineage.openlineage, now=later).sent == 1
        finally:
            store.close()
        assert len(server.requests) == 3
        assert len({json.loads(r["body"])["run"]["runId"] for r in server.requests}) == 1

    with capture_server([400]) as refusing:
        other = tmp_path / "refused"
        other.mkdir()
        home = _home(other, f"url: '{refusing.url}'")
        ran = _scan(home)
        assert ran.code == 0 and "1 refused" in ran.stderr
        listed = run_warden("lineage", "events", "--status", "failed", "--json", cwd=home)
        (failed,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert failed["job"] == "events-drift" and "answered 400" in failed["last_error"]


def test_the_api_key_comes_from_the_environment(tmp_path: Path):
    with capture_server() as server:
        home = _home(tmp_path, f"url: '{server.url}', api_key_env: LINEAGE_KEY")
        ran = _scan(home, env={"LINEAGE_KEY": "s3cret"})
        assert ran.code == 0, ran.stderr
    assert server.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in (home / "warden.yaml").read_text()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{namespace: x}", "give exactly one of `url`"),
        ("{url: 'http://a', file: b.jsonl}", "give exactly one of `url`"),
        ("{url: 'ftp://a'}", "must be an http:// or https:// URL"),
        ("{file: a.jsonl, api_key_env: 'not a name'}", "api_key_env"),
    ],
)
def test_bad_lineage_configs_are_explained(tmp_path: Path, block: str, message: str):
    (tmp_path / "warden.yaml").write_text(f"lineage:\n  openlineage: {block}\n")
    ran = run_warden("validate-config", "warden.yaml", cwd=tmp_path)
    assert ran.code == 2 and message in ran.stderr

"""Job runs received as OpenLineage events (the real client sending to Warden's
`POST /api/lineage` over HTTP), the dataset versions they read, and the runs an incident's
bad data reached (`warden lineage impact`, `incidents show`, the HTML report)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from daemon.store.audit import AuditEvent
from daemon.store.engine import Store
from daemon.store.lineage_models import LineageInput
from tests.cli.conftest import run_warden
from tests.daemon.test_http_incidents_api import _serving
from tests.versions.tables import START, day_rows

deltalake = pytest.importorskip("deltalake", reason="the `delta` extra is part of make test")
pytest.importorskip("openlineage.client", reason="the `lineage` extra is part of make test")

TOKEN = "lineage-secret"


def _commit_at(path: Path, version: int, when: datetime) -> None:
    seconds = when.timestamp()
    os.utime(path / "_delta_log" / f"{version:020d}.json", (seconds, seconds))


def _world(tmp_path: Path, store: Store) -> tuple[WardenConfig, Path, int]:
    """A Delta table of four days whose last commit (version 3) wrote a day of nulls, each
    commit dated the end of its day; a quality scan of day 3 opens an incident."""
    path = tmp_path / "orders"
    for day in range(4):
        deltalake.write_deltalake(
            str(path), day_rows(day, nulls=day == 3), mode="append", partition_by=["day"]
        )
        _commit_at(path, day, START + timedelta(days=day + 1))
    config = WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": {"orders": {"format": "delta", "path": str(path), "time_column": "ts"}},
            "monitors": [
                {
                    "name": "orders-quality",
                    "kind": "quality",
                    "dataset": "orders",
                    "reference": {"start": "2025-01-01", "end": "2025-01-02"},
                    "window": "1d",
                    "columns": ["x"],
                }
            ],
            "http": {"api_token": TOKEN},
            "playbooks": {"work_root": str(tmp_path / "work")},
        }
    )
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], START + timedelta(days=4, hours=1), store)
    assert report is not None and report.status == "alert", report and report.message
    assert report.dataset_version == "3"
    assert report.incident_id is not None
    return config, path, report.incident_id


def _emit(base: str, job: str, when: datetime, inputs: list[tuple[str, str, str | None]]) -> str:
    """A training job's COMPLETE event, sent by the OpenLineage client; returns its run id."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import dataset_version_dataset
    from openlineage.client.uuid import generate_new_uuid

    client = OpenLineageClient(
        config={
            "transport": {
                "type": "http",
                "url": base,
                "endpoint": "api/lineage",
                "auth": {"type": "api_key", "apiKey": TOKEN},
            }
        }
    )
    run_id = str(generate_new_uuid())
    datasets = [
        InputDataset(
            namespace=namespace,
            name=name,
            facets=(
                {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=v)}
                if v is not None
                else {}
            ),
        )
        for namespace, name, v in inputs
    ]
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=when.isoformat().replace("+00:00", "Z"),
            run=Run(runId=run_id),
            job=Job(namespace="training", name=job),
            producer="https://example.com/trainer",
            inputs=datasets,
        )
    )
    return run_id


def test_runs_that_read_the_bad_version_are_the_incidents_impact(store: Store, tmp_path: Path):
    config, path, incident_id = _world(tmp_path, store)
    table = str(path)
    with _serving(store, config) as base:
        day = START + timedelta(days=3, hours=12)  # before version 3 was committed
        before = _emit(base, "train-before", day, [("file", table, None)])
        after = _emit(
            base, "train-after", START + timedelta(days=4, hours=6), [("file", table, None)]
        )
        pinned = _emit(base, "train-pinned", START + timedelta(days=5), [("file", table, "2")])
        unknown = _emit(base, "train-elsewhere", day, [("file", "/data/other", None)])
        # A clean day appended later: version 4 still holds day 3's file.
        deltalake.write_deltalake(str(path), day_rows(4), mode="append", partition_by=["day"])
        _commit_at(path, 4, START + timedelta(days=5))
        later = _emit(base, "train-later", START + timedelta(days=6), [("file", table + "/", None)])
    with store.session(readonly=True) as session:
        read = {row.lineage_run_id: row for row in session.exec(select(LineageInput)).all()}
    versions = sorted(
        ((row.dataset, row.version, row.version_source) for row in read.values()),
        key=lambda item: tuple(part or "" for part in item),
    )
    assert versions == [
        (None, None, None),  # /data/other: kept, no dataset
        ("orders", "2", "facet"),
        ("orders", "2", "table at event time"),
        ("orders", "3", "table at event time"),
        ("orders", "4", "table at event time"),
    ]
    ran = run_warden(
        "lineage",
        "impact",
        str(incident_id),
        "--json",
        "-c",
        _config_file(tmp_path, config),
        cwd=tmp_path,
    )
    assert ran.code == 0, ran.stderr
    impact = json.loads(ran.stdout)
    assert impact["detected_version"] == "3"
    assert impact["versions"] == ["3", "4"]
    assert [Path(p).parts[0] for p in impact["bad_files"]] == ["day=d03"]
    assert {run["run_id"] for run in impact["runs"]} == {after, later}
    assert before not in json.dumps(impact) and pinned not in json.dumps(impact)
    assert unknown not in json.dumps(impact)

    shown = run_warden(
        "incidents",
        "show",
        str(incident_id),
        "--html",
        "report.html",
        "-c",
        _config_file(tmp_path, config),
        cwd=tmp_path,
    )
    assert shown.code == 0, shown.stderr
    assert "train-after" in shown.stdout and "versions holding the bad data: 3, 4" in shown.stdout
    page = (tmp_path / "report.html").read_text()
    assert "Data version and job runs" in page and "train-later" in page

    # The Slack message says which version was read and which jobs read it since.
    from daemon.slack.incident_cards import incident_card
    from daemon.slack.render import incident_message
    from daemon.store.models import Incident

    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        card = incident_card(session, incident)
    assert (card.dataset_version, card.downstream_runs) == ("3", 2)
    assert card.downstream_jobs == ("train-after", "train-later")
    text = json.dumps(incident_message(card), ensure_ascii=False)
    assert "data version `3`" in text and "read by 2 job run(s) since" in text


def _config_file(tmp_path: Path, config: WardenConfig) -> str:
    target = tmp_path / "warden.json.yaml"
    data = config.model_dump(mode="json", exclude_defaults=True)
    data["http"] = {"api_token": "${LINEAGE_TEST_TOKEN:-x}"}
    target.write_text(json.dumps(data))
    return str(target)


def _post(base: str, body: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/api/lineage", json=body, headers=headers, timeout=10)


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "eventTime": "2025-01-05T00:00:00Z",
        "producer": "https://example.com/trainer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "eventType": "COMPLETE",
        "run": {"runId": "0190e5a8-1111-7000-8000-000000000000"},
        "job": {"namespace": "training", "name": "t"},
        "inputs": [{"namespace": "file", "name": "/nowhere"}],
    }
    event.update(changes)
    return event


def test_bad_events_are_refused_and_recorded_and_repeats_counted_once(store: Store, tmp_path):
    config, _path, _incident = _world(tmp_path, store)
    with _serving(store, config) as base:
        first = _post(base, _event())
        assert first.status_code == 201, first.text
        assert first.json()["unknown_inputs"][0]["name"] == "/nowhere"
        again = _post(base, _event())
        assert again.status_code == 200 and again.json()["recorded"] is False
        for body, problem in (
            (_event(run={"runId": "not-a-uuid"}), "run.runId"),
            (_event(eventTime="2025-01-05T00:00:00"), "UTC offset"),
            (_event(producer="nope"), "not a URI"),
            ({"hello": "world"}, "eventTime"),
        ):
            refused = _post(base, body)
            assert refused.status_code == 400, body
            assert any(problem in text for text in refused.json()["problems"]), refused.json()
        not_json = httpx.post(
            f"{base}/api/lineage",
            content=b"\x00{",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert not_json.status_code == 400
        assert _post(base, _event(), token="wrong").status_code == 401
        assert _post(base, _event(), token=None).status_code == 401
        huge = _event(job={"namespace": "t", "name": "x" * (1024 * 1024)})
        assert _post(base, huge).status_code == 413
    with store.session(readonly=True) as session:
        refusals = session.exec(
            select(AuditEvent).where(AuditEvent.action == "lineage.refused")
        ).all()
    assert len(refusals) == 5 and all(r.actor == "api:shared" for r in refusals)


def test_without_a_token_the_lineage_api_is_off(store: Store, tmp_path: Path):
    config, _path, _incident = _world(tmp_path, store)
    open_config = config.model_copy(update={"http": None})
    with _serving(store, open_config) as base:
        answer = _post(base, _event(), token=None)
    assert answer.status_code == 403 and "lineage API is off" in answer.text


def test_an_event_of_a_file_below_a_folder_dataset_names_it(tmp_path: Path):
    from daemon.lineage.ingest import dataset_of

    config = WardenConfig.model_validate(
        {
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "ev"), "time_column": "ts"},
                "pg": {
                    "format": "postgres",
                    "url": "postgresql://u@db:5432/shop",
                    "table": "sales.orders",
                    "time_column": "ts",
                },
            }
        }
    )
    assert dataset_of(config, "file", str(tmp_path / "ev" / "day=1" / "a.parquet")) == "events"
    assert dataset_of(config, "file", f"file://{tmp_path / 'ev'}") == "events"
    assert dataset_of(config, "file", str(tmp_path / "every")) is None  # a prefix, not a folder
    assert dataset_of(config, "postgres://db:5432", "shop.sales.orders") == "pg"
    assert dataset_of(config, "postgres://db:5432", "shop.public.orders") is None

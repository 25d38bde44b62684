"""`GET /api/incidents` and `/api/incidents/{id}` over real HTTP (uvicorn on 127.0.0.1): the
rows `warden incidents list --json` prints, filtered by status, monitor, dataset and limit; one
incident with its evidence and audit timeline; 404 and 422 with a message; the bearer token
when `http.api_token` is set and open when it is not; and the paths in /openapi.json."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from daemon.config.models import WardenConfig
from daemon.http.app import AuditRow, IncidentRow, create_app
from daemon.http.server import HttpServer
from daemon.incidents.lifecycle import change_status
from daemon.reporting.queries import (
    AuditFilter,
    IncidentFilter,
    audit_events,
    audit_row,
    incident_row,
)
from daemon.reporting.queries import list_incidents as query_incidents
from daemon.store.engine import Store
from daemon.store.models import IncidentStatus
from detectors.results import Finding
from tests.cli.conftest import run_warden
from tests.slack.scenario import DAY, detect, slack_config, write_data

TOKEN = "api-secret"  # slack_config's http.api_token
AUTHORISED = {"Authorization": f"Bearer {TOKEN}"}
#: When the people in `world` acted (passed as `at`, so their rows are fixed).
ACKNOWLEDGED_AT = DAY + timedelta(days=3, hours=9)
CLOSED_AT = DAY + timedelta(days=3, hours=10)
NULLS_IN_Y = Finding("null_spike", "y", "binomial", 0.4, 0.05, True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _serving(store: Store, config: WardenConfig) -> Iterator[str]:
    port = _free_port()
    server = HttpServer(create_app(store, config, None), "127.0.0.1", port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _url(store: Store) -> str:
    return store.url.render_as_string(hide_password=False)


def _without_token(config: WardenConfig) -> WardenConfig:
    assert config.http is not None
    return config.model_copy(update={"http": config.http.model_copy(update={"api_token": None})})


@pytest.fixture
def world(store: Store, tmp_path: Path) -> WardenConfig:
    """Three incidents found by scans, then moved on by people:

    1. `quality` found nulls in x; alice acknowledged it.
    2. `nightly` found nulls in x; still open.
    3. `weekly` found nulls in y a day later; bob closed it.
    """
    write_data(tmp_path / "data")
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    assert detect(store, config, monitor="quality") == [1]  # the proposed runs
    assert detect(store, config, monitor="nightly") == [2]
    assert detect(store, config, NULLS_IN_Y, day=2, monitor="weekly") == [3]
    with store.session() as session:
        change_status(session, 1, IncidentStatus.acknowledged, actor="alice", at=ACKNOWLEDGED_AT)
        change_status(session, 3, IncidentStatus.closed, actor="bob", reason="re-run", at=CLOSED_AT)
    return config


@pytest.fixture
def base(store: Store, world: WardenConfig) -> Iterator[str]:
    with _serving(store, world) as url:
        yield url


def _ids(base: str, query: str) -> list[int]:
    response = httpx.get(f"{base}/api/incidents?{query}", headers=AUTHORISED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["incidents"])
    return [row["id"] for row in body["incidents"]]


def test_the_list_holds_the_rows_of_incidents_list_json(base, store, tmp_path):
    response = httpx.get(f"{base}/api/incidents", headers=AUTHORISED)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["id"] for row in body["incidents"]] == [3, 2, 1]  # newest first
    assert body["incidents"][0] == {
        "id": 3,
        "status": "closed",
        "severity": "warning",
        "pattern": "null_spike",
        "dataset": "events",
        "monitor": "weekly",
        "scope": {},
        "columns": ["y"],
        "title": "null_spike on events (y)",
        "occurrences": 1,
        "first_seen": "2025-03-04T00:00:00+00:00",
        "last_seen": "2025-03-04T00:00:00+00:00",
        "resolved_at": None,
        "previous_incident_id": None,
        "proposed_action": "quarantine (human approval) [route routes[0]]",
        "route": {
            "rule": "routes[0]",
            "playbook": "quarantine",
            "approval": "human",
            "params": {},
            "channel": "#ml-oncall",
            "note": "",
        },
        "silenced_by": None,
        "group": 2,
        "acknowledged_at": None,
        "closed_at": "2025-03-04T10:00:00+00:00",
        "closed_reason": "re-run",
        "false_alarm": False,
    }
    assert body["incidents"][2]["status"] == "acknowledged"
    assert body["incidents"][2]["acknowledged_at"] == "2025-03-04T09:00:00+00:00"
    # The same rows, every field, as the CLI prints them from the same store.
    (tmp_path / "warden.yaml").write_text(f"store: {{url: '{_url(store)}'}}\n")
    listed = run_warden("incidents", "list", "-c", "warden.yaml", "--json", cwd=tmp_path)
    assert listed.code == 0, listed.stderr
    assert body["incidents"] == [json.loads(line) for line in listed.stdout.splitlines()]


def test_the_response_models_hold_every_field_of_the_query_rows(store, world):
    """The response models filter what they do not declare: a field added to `incident_row`
    or `audit_row` must be added to them too, or the API would leave it out."""
    (incident, *_) = query_incidents(store, IncidentFilter())
    assert set(IncidentRow.model_fields) == set(incident_row(incident))
    (event, *_) = audit_events(store, AuditFilter(incident=incident.id))
    assert set(AuditRow.model_fields) == set(audit_row(event))


#: A query of `/api/incidents` and the ids it answers, for the incidents of `world`.
FILTERED = {
    "": [3, 2, 1],
    "status=open": [2],
    "status=acknowledged&status=closed": [3, 1],
    "status=acknowledged,closed": [3, 1],
    "status=closed,&status=": [3],  # empty parts are no filter
    "status=resolved": [],
    "monitor=nightly": [2],
    "monitor=quality&status=open": [],
    "monitor=quality&status=open,acknowledged": [1],
    "dataset=events": [3, 2, 1],
    "dataset=orders": [],
    "limit=2": [3, 2],
    "limit=1&status=open,acknowledged": [2],
    "limit=1000": [3, 2, 1],
}


def test_filters(base):
    assert {query: _ids(base, query) for query in FILTERED} == FILTERED


#: A bad query of `/api/incidents` and the one error its 422 lists.
BAD_QUERIES = {
    "status=bogus": {
        "type": "enum",
        "loc": ["query", "status"],
        "msg": "unknown status 'bogus'; use one of: "
        "open, acknowledged, remediating, resolved, closed",
        "input": ["bogus"],
    },
    "status=open&status=resolvd,active": {
        "type": "enum",
        "loc": ["query", "status"],
        "msg": "unknown status 'resolvd', 'active'; use one of: "
        "open, acknowledged, remediating, resolved, closed",
        "input": ["open", "resolvd,active"],
    },
    "limit=0": {
        "type": "greater_than_equal",
        "loc": ["query", "limit"],
        "msg": "Input should be greater than or equal to 1",
        "input": "0",
        "ctx": {"ge": 1},
    },
    "limit=1001": {
        "type": "less_than_equal",
        "loc": ["query", "limit"],
        "msg": "Input should be less than or equal to 1000",
        "input": "1001",
        "ctx": {"le": 1000},
    },
}


def test_bad_queries_are_422_saying_what_is_wrong(base):
    answers = {}
    for query in BAD_QUERIES:
        response = httpx.get(f"{base}/api/incidents?{query}", headers=AUTHORISED)
        answers[query] = (response.status_code, response.json())
    assert answers == {query: (422, {"detail": [error]}) for query, error in BAD_QUERIES.items()}


def test_one_incident_has_its_evidence_and_timeline(base, tmp_path, store):
    response = httpx.get(f"{base}/api/incidents/1", headers=AUTHORISED)
    assert response.status_code == 200
    detail = response.json()
    listed = httpx.get(f"{base}/api/incidents?monitor=quality", headers=AUTHORISED).json()
    timeline = detail.pop("timeline")
    evidence = detail.pop("evidence")
    assert detail == listed["incidents"][0]
    assert evidence == {
        "schema_version": 1,
        "findings": [
            {
                "pattern": "null_spike",
                "column": "x",
                "method": "binomial",
                "statistic": 0.3,
                "threshold": 0.05,
                "alert": True,
                "p_value": None,
                "details": {},
            }
        ],
        "windows": {
            "current": {
                "dataset": "events",
                "start": "2025-03-02T00:00:00+00:00",
                "end": "2025-03-03T00:00:00+00:00",
            }
        },
        "summary": {},
    }
    assert [(e["actor"], e["action"], e["entity_type"], e["entity_id"]) for e in timeline] == [
        ("scanner", "incident.opened", "incident", "1"),
        ("scanner", "group.opened", "incident_group", "1"),
        ("scanner", "incident.routed", "incident", "1"),
        # Incident 2 opened at the same scan time: it joined incident 1's group.
        ("scanner", "group.joined", "incident_group", "1"),
        ("alice", "incident.acknowledged", "incident", "1"),
    ]
    seqs = [event["seq"] for event in timeline]
    assert seqs == sorted(seqs)
    assert all(len(event["hash"]) == 64 for event in timeline)
    assert timeline[4]["payload"] == {
        "from": "open",
        "to": "acknowledged",
        "reason": None,
        "false_alarm": False,
        "at": "2025-03-04T09:00:00+00:00",
    }
    # What `incidents show --json` prints: the same row, evidence and events.
    (tmp_path / "warden.yaml").write_text(f"store: {{url: '{_url(store)}'}}\n")
    shown = run_warden("incidents", "show", "1", "-c", "warden.yaml", "--json", cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    cli = json.loads(shown.stdout)
    assert {key: cli[key] for key in detail} == detail
    assert cli["evidence"] == evidence
    assert [
        {key: event[key] for key in ("at", "actor", "action", "payload")} for event in timeline
    ] == [
        {key: item[key] for key in ("at", "actor", "action", "payload")} for item in cli["timeline"]
    ]


def test_a_missing_incident_is_404_and_a_bad_id_422(base):
    missing = httpx.get(f"{base}/api/incidents/999", headers=AUTHORISED)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "there is no incident 999"}
    not_a_number = httpx.get(f"{base}/api/incidents/first", headers=AUTHORISED)
    assert not_a_number.status_code == 422
    assert not_a_number.json()["detail"][0]["loc"] == ["path", "incident_id"]


def test_with_a_token_configured_a_wrong_or_missing_one_is_401(base):
    refused = (401, {"detail": "missing or wrong bearer token"}, "Bearer")
    answers, expected = {}, {}
    for authorization in (None, "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
        headers = {"Authorization": authorization} if authorization is not None else {}
        for path in ("/api/incidents", "/api/incidents/1"):
            response = httpx.get(f"{base}{path}", headers=headers)
            answers[authorization, path] = (
                response.status_code,
                response.json(),
                response.headers.get("WWW-Authenticate"),
            )
            expected[authorization, path] = refused
    assert answers == expected


def test_with_a_token_configured_the_right_one_reads(base):
    for authorization in (f"Bearer {TOKEN}", f"bearer {TOKEN}"):
        for path in ("/api/incidents", "/api/incidents/1"):
            response = httpx.get(f"{base}{path}", headers={"Authorization": authorization})
            assert response.status_code == 200, (authorization, path)


def test_without_a_token_reads_are_open_and_approvals_stay_off(store, world):
    with _serving(store, _without_token(world)) as base:
        listed = httpx.get(f"{base}/api/incidents")
        assert listed.status_code == 200 and listed.json()["count"] == 3
        shown = httpx.get(f"{base}/api/incidents/2")
        assert shown.status_code == 200 and shown.json()["monitor"] == "nightly"
        # There is no token to be wrong about: any header is ignored.
        assert httpx.get(f"{base}/api/incidents", headers=AUTHORISED).status_code == 200
        approve = httpx.post(f"{base}/api/runs/2/approve", json={"as": "alice"}, headers=AUTHORISED)
        assert approve.status_code == 403
        assert approve.json() == {
            "detail": "the approval API is off: set http.api_token in the config, or make a "
            "person's token with `warden tokens create NAME --person PERSON`"
        }


def test_the_api_is_described_at_openapi_json_and_docs(base):
    # Not in http.public_endpoints by default: with a token configured, it takes the token.
    assert httpx.get(f"{base}/openapi.json").status_code == 401
    assert httpx.get(f"{base}/docs").status_code == 401
    spec = httpx.get(f"{base}/openapi.json", headers=AUTHORISED).json()
    listing = spec["paths"]["/api/incidents"]["get"]
    assert [p["name"] for p in listing["parameters"]] == [
        "status",
        "monitor",
        "dataset",
        "limit",
        "authorization",
    ]
    (limit,) = [p for p in listing["parameters"] if p["name"] == "limit"]
    assert limit["schema"] == {
        "type": "integer",
        "maximum": 1000,
        "minimum": 1,
        "description": "At most this many.",
        "default": 100,
        "title": "Limit",
    }
    assert "http.api_token" in listing["description"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IncidentList"
    }
    one = spec["paths"]["/api/incidents/{incident_id}"]["get"]
    assert sorted(one["responses"]) == ["200", "401", "404", "422"]
    assert "http.api_token" in one["description"]
    schemas = spec["components"]["schemas"]
    assert set(schemas["IncidentDetail"]["properties"]) == {
        *IncidentRow.model_fields,
        "evidence",
        "timeline",
    }
    assert schemas["IncidentStatus"]["enum"] == [s.value for s in IncidentStatus]
    docs = httpx.get(f"{base}/docs", headers=AUTHORISED)
    assert docs.status_code == 200 and "/openapi.json" in docs.text

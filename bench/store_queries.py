"""How the incident and audit queries hold up on a large store, on SQLite and PostgreSQL.

Fills a fresh store with 100k incidents over a year and 1M audit events (a valid hash
chain, ten per incident on average), then times the queries behind the CLI, each repeated
with varied arguments, and prints p50 and p95 in milliseconds:

- `incidents list` (newest 200; by status; by dataset and pattern; seen since a date),
- `incidents show` (one incident and its timeline),
- `audit log` (one incident's events; one actor since a date; the newest 1000),
- `report --since 30d`,
- and once, `audit verify` over the whole chain (not interactive; for scale).

    python bench/store_queries.py                      # SQLite, and PostgreSQL when
                                                       # WARDEN_TEST_POSTGRES_URL is set
    python bench/store_queries.py --incidents 10000 --events 100000   # a quick run
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from daemon.reporting.queries import (
    AuditFilter,
    IncidentFilter,
    audit_events,
    get_incident,
    list_incidents,
)
from daemon.reporting.summary import build_report
from daemon.store.audit import GENESIS_HASH, event_hash, verify_audit_chain
from daemon.store.engine import Store, open_store
from daemon.store.models import AuditEvent, Incident
from daemon.store.urls import parse_store_url

START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
DATASETS = [f"dataset_{i:02d}" for i in range(40)]
PATTERNS = ["feature_drift", "null_spike", "missing_partition", "volume_drop", "schema_change"]
ACTORS = ["scanner", "alice", "bob", "carol", "runner"]
CHUNK = 10_000


def populate(store: Store, incidents: int, events: int, seed: int = 7) -> None:
    """Insert `incidents` incidents and `events` chained audit events, in chunks."""
    rng = random.Random(seed)
    started = time.perf_counter()
    rows = []
    for index in range(1, incidents + 1):
        first_seen = START + YEAR * (index / incidents)
        status = rng.choices(
            ["resolved", "closed", "open", "acknowledged"], weights=[70, 10, 15, 5]
        )[0]
        acknowledged = first_seen + timedelta(minutes=rng.randint(1, 600))
        rows.append(
            {
                "id": index,
                "fingerprint": uuid.UUID(int=rng.getrandbits(128)).hex * 2,
                "monitor": f"monitor_{index % 200}",
                "dataset": rng.choice(DATASETS),
                "pattern": rng.choice(PATTERNS),
                "scope": {},
                "severity": rng.choice(["info", "warning", "critical"]),
                "status": status,
                "title": f"incident {index}",
                "first_seen": first_seen,
                "last_seen": first_seen + timedelta(hours=rng.randint(1, 48)),
                "occurrences": rng.randint(1, 20),
                "clean_streak": 0,
                "evidence": {"findings": [], "windows": {}},
                "acknowledged_at": acknowledged if status != "open" else None,
                "resolved_at": acknowledged + timedelta(hours=2) if status == "resolved" else None,
                "closed_at": acknowledged if status == "closed" else None,
                "false_alarm": status == "closed" and rng.random() < 0.5,
                # Open incidents must keep fingerprints unique among the active ones.
            }
        )
        if len(rows) == CHUNK:
            _insert(store, Incident, rows)
            rows = []
    _insert(store, Incident, rows)
    print(f"   {incidents:,} incidents in {time.perf_counter() - started:.0f} s", flush=True)

    started = time.perf_counter()
    previous = GENESIS_HASH
    rows = []
    for seq in range(1, events + 1):
        incident = 1 + (seq * incidents) // (events + 1)
        at = START + YEAR * (seq / events)
        action = rng.choice(["incident.updated", "incident.opened", "incident.acknowledged"])
        record = {
            "seq": seq,
            "at": at,
            "actor": rng.choice(ACTORS),
            "action": action,
            "entity_type": "incident",
            "entity_id": str(incident),
            "payload": {"occurrences": seq % 17, "at": at.isoformat()},
            "prev_hash": previous,
        }
        record["hash"] = event_hash(**record)
        previous = record["hash"]
        rows.append(record)
        if len(rows) == CHUNK:
            _insert(store, AuditEvent, rows)
            rows = []
            if seq % 200_000 == 0:
                print(f"   ... {seq:,} audit events", flush=True)
    _insert(store, AuditEvent, rows)
    print(f"   {events:,} audit events in {time.perf_counter() - started:.0f} s", flush=True)


def _insert(store: Store, model: type, rows: list[dict]) -> None:
    if not rows:
        return
    with store.connect() as connection:
        connection.execute(insert(model.__table__), rows)  # type: ignore[attr-defined]
        connection.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def time_queries(store: Store, incidents: int, repeats: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(11)
    day = lambda: START + timedelta(days=rng.randint(0, 360))  # noqa: E731
    cases: dict[str, Callable[[], object]] = {
        "incidents list (newest 200)": lambda: list_incidents(store, IncidentFilter()),
        "incidents list --status open": lambda: list_incidents(
            store, IncidentFilter(status=["open"])
        ),
        "incidents list --dataset --pattern": lambda: list_incidents(
            store, IncidentFilter(dataset=rng.choice(DATASETS), pattern=rng.choice(PATTERNS))
        ),
        "incidents list --since": lambda: list_incidents(store, IncidentFilter(since=day())),
        "incidents show ID": lambda: get_incident(store, rng.randint(1, incidents)),
        "audit log --incident ID": lambda: audit_events(
            store, AuditFilter(incident=rng.randint(1, incidents))
        ),
        "audit log --actor --since": lambda: audit_events(
            store, AuditFilter(actor=rng.choice(ACTORS), since=day())
        ),
        "audit log (newest 1000)": lambda: audit_events(store, AuditFilter()),
        "report --since 30d": lambda: build_report(
            store, (moment := day()), moment + timedelta(days=30)
        ),
    }
    results = {}
    for name, query in cases.items():
        query()  # warm the caches once, as an interactive user's second query would
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            query()
            samples.append((time.perf_counter() - started) * 1000)
        results[name] = percentiles(samples)
    return results


@contextmanager
def fresh_store(backend: str, postgres_url: str | None) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                yield store
            finally:
                store.close()
        return
    assert postgres_url is not None
    server = parse_store_url(postgres_url)
    name = f"warden_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = open_store(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=40, help="timed runs per query")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("WARDEN_TEST_POSTGRES_URL"),
        help="a server URL on which a scratch database may be created",
    )
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    table: dict[str, dict[str, tuple[float, float]]] = {}
    verify_seconds: dict[str, float] = {}
    for backend in backends:
        print(f"\n== {backend}: filling the store", flush=True)
        with fresh_store(backend, args.postgres) as store:
            populate(store, args.incidents, args.events)
            table[backend] = time_queries(store, args.incidents, args.repeats)
            started = time.perf_counter()
            with store.session(readonly=True) as session:
                outcome = verify_audit_chain(session)
            verify_seconds[backend] = time.perf_counter() - started
            assert outcome.ok and outcome.checked == args.events, outcome
    print(
        f"\n{args.incidents:,} incidents, {args.events:,} audit events; "
        f"milliseconds over {args.repeats} runs each (p50 / p95)"
    )
    print(f"{'query':<38}" + "".join(f"{b:>22}" for b in backends))
    for name in table[backends[0]]:
        cells = "".join(f"{table[b][name][0]:>10.1f} / {table[b][name][1]:>8.1f}" for b in backends)
        print(f"{name:<38}{cells}")
    print(
        f"{'audit verify (whole chain, once)':<38}"
        + "".join(f"{verify_seconds[b]:>19.1f} s " for b in backends)
    )


if __name__ == "__main__":
    main()

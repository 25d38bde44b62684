"""Values from the data that a store cannot take whole (a NUL byte, a 100,000-character
string) are sanitised and capped in what a scan records and reports, on both backends, and
the other monitors of the config still run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from daemon.store.engine import Store
from daemon.store.json_safety import MAX_STORED_STRING
from daemon.store.models import Incident, ScanRun
from tests.daemon.engine_cases import AT, START, events_table

NUL_VALUE = "bad\x00kind"
LONG_VALUE = "x" * 100_000
#: How each comes back from the store, the report and the evidence.
NUL_STORED = "bad\\u0000kind"
LONG_STORED = "x" * MAX_STORED_STRING + "… (truncated, 100000 characters)"


def write_events(path: Path, *, last_day: dict[int, str], every_day: str | None = None) -> None:
    """The shared eight days of events; in the last day, row i with i % 40 in `last_day`
    gets that `kind`; with `every_day`, every tenth row of every day gets it."""
    table = events_table()
    kinds = table.column("kind").to_pylist()
    last_day_start = len(kinds) * 7 // 8
    for index in range(len(kinds)):
        if every_day is not None and index % 10 == 5:
            kinds[index] = every_day
        if index >= last_day_start and index % 40 in last_day:
            kinds[index] = last_day[index % 40]
    table = table.set_column(table.schema.get_field_index("kind"), "kind", pa.array(kinds))
    pq.write_table(table, path)


def config_for(folder: Path, store_url: str) -> WardenConfig:
    reference = {"start": START.isoformat(), "end": (AT - (AT - START) / 8).isoformat()}
    return WardenConfig.model_validate(
        {
            "store": {"url": store_url},
            "datasets": {
                "events": {
                    "format": "parquet",
                    "path": str(folder / "events.parquet"),
                    "time_column": "ts",
                }
            },
            "monitors": [
                {
                    "name": "drift",
                    "kind": "drift",
                    "dataset": "events",
                    "window": "1d",
                    "reference": reference,
                    "columns": ["amount", "kind"],
                },
                {"name": "fresh", "kind": "freshness", "dataset": "events", "max_lag": "1h"},
            ],
        }
    )


def new_categories(evidence_or_report: dict) -> dict[str, int]:
    (emergence,) = [
        finding
        for finding in evidence_or_report["findings"]
        if finding["pattern"] == "category_emergence"
    ]
    return emergence["details"]["new_categories"]


def test_a_nul_byte_and_a_huge_value_are_recorded_sanitised_and_capped(
    store: Store, tmp_path: Path
):
    write_events(tmp_path / "events.parquet", last_day={0: NUL_VALUE, 1: LONG_VALUE})
    config = config_for(tmp_path, "sqlite://")
    sync_monitors(store, config)
    drift = run_scan(config, config.monitor("drift"), AT, store)
    fresh = run_scan(config, config.monitor("fresh"), AT, store)
    assert drift is not None and fresh is not None
    assert drift.status == "alert" and fresh.status in ("ok", "alert")
    reported = new_categories(drift.to_json_dict())
    assert reported[NUL_STORED] == 10 and reported[LONG_STORED] == 10
    assert NUL_VALUE not in reported and LONG_VALUE not in reported
    with store.session(readonly=True) as session:
        (incident,) = session.exec(
            select(Incident).where(Incident.pattern == "category_emergence")
        ).all()
        runs = {run.monitor: run.status for run in session.exec(select(ScanRun)).all()}
    assert new_categories(incident.evidence) == reported
    assert runs == {"drift": "alert", "fresh": fresh.status}


def test_a_nul_category_in_both_windows_is_the_same_category_from_the_cache(
    store: Store, tmp_path: Path
):
    write_events(tmp_path / "events.parquet", last_day={}, every_day="card\x00")
    config = config_for(tmp_path, "sqlite://")
    sync_monitors(store, config)
    fresh = run_scan(config, config.monitor("drift"), AT, store)
    cached = run_scan(config, config.monitor("drift"), AT, store)
    assert fresh is not None and cached is not None
    assert (fresh.reference_cached, cached.reference_cached) == (False, True)
    for report in (fresh, cached):  # only `refund` is new; `card\x00` was always there
        assert set(new_categories(report.to_json_dict())) == {"refund"}

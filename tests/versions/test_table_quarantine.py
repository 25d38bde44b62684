"""Quarantine of Delta and Iceberg tables: a commit removing the files of the bad window,
and a release committing exactly them back, after a crash too, keeping what was appended
meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.remediation.proposals import playbook_context
from playbooks.base import PlanRefused
from playbooks.registry import get_playbook
from playbooks.versioned.base import TableChanged, marker
from playbooks.versioned.open import versioned_table
from tests.versions.tables import (
    day_rows,
    delta_of_days,
    delta_rows,
    iceberg_of_days,
    iceberg_rows,
    table_config,
    window_incident,
)

deltalake = pytest.importorskip("deltalake", reason="the `delta` extra is part of make test")
pytest.importorskip("pyiceberg", reason="the `iceberg` extra is part of make test")

QUARANTINE = get_playbook("quarantine")


def _delta(tmp_path: Path):
    path = tmp_path / "orders"
    delta_of_days(path, 4, null_days={2})
    config = table_config({"format": "delta", "path": str(path)}, tmp_path / "work")
    return path, playbook_context(config, "orders")


def test_delta_quarantine_removes_the_window_and_release_restores_exactly_it(tmp_path: Path):
    path, context = _delta(tmp_path)
    before = delta_rows(path)
    plan = QUARANTINE.plan(window_incident(2), QUARANTINE.parse_params({}), context)
    (step, _manifest) = plan.steps
    assert step.details["version_before"] == "3" and step.details["window_rows"] == 100
    assert [f["path"].split("/")[0] for f in step.details["files"]] == ["day=d02"]
    assert "removal of 1 data file(s) holding the 100 rows" in plan.summary

    log = QUARANTINE.apply(plan, context)
    assert log[0]["outcome"] == "committed" and log[0]["version_after"] == "4"
    assert delta_rows(path) == [row for row in before if row[3] != "d02"]
    assert os.path.exists(step.details["files"][0]["local_path"])  # never deleted
    history = deltalake.DeltaTable(str(path)).history(1)[0]
    assert history["warden.action"] == "quarantine" and history["warden.plan"] == plan.hash

    again = QUARANTINE.apply(plan, context)  # a retry commits nothing more
    assert again[0]["outcome"] == "committed already" and again[0]["version_after"] == "4"
    assert deltalake.DeltaTable(str(path)).version() == 4

    deltalake.write_deltalake(str(path), day_rows(9), mode="append", partition_by=["day"])
    released = QUARANTINE.rollback(plan, context)
    assert released[0]["outcome"] == "committed"
    assert delta_rows(path) == sorted(before + delta_rows_of_day(9))  # day 9 kept
    assert QUARANTINE.rollback(plan, context)[0]["outcome"] == "committed already"


def delta_rows_of_day(day: int) -> list[tuple]:
    table = day_rows(day)
    return sorted(zip(*(table[c].to_pylist() for c in ("id", "ts", "x", "day")), strict=True))


def test_a_crash_after_the_commit_is_found_not_repeated(tmp_path: Path):
    path, context = _delta(tmp_path)
    plan = QUARANTINE.plan(window_incident(2), QUARANTINE.parse_params({}), context)
    files = [f["path"] for f in plan.steps[0].details["files"]]
    # What a process killed right after its commit leaves: the commit, no step log.
    versioned_table(context.dataset).remove(files, marker("quarantine", 7, plan.hash))
    log = QUARANTINE.apply(plan, context)
    assert log[0]["outcome"] == "committed already"
    assert deltalake.DeltaTable(str(path)).version() == 4  # one removal commit, not two


def test_a_file_rewritten_since_the_plan_is_refused(tmp_path: Path):
    path, context = _delta(tmp_path)
    plan = QUARANTINE.plan(window_incident(2), QUARANTINE.parse_params({}), context)
    deltalake.DeltaTable(str(path)).delete("id = 2005")  # rewrites day 2's file
    with pytest.raises(TableChanged, match="no longer in the Delta table"):
        QUARANTINE.apply(plan, context)
    assert deltalake.DeltaTable(str(path)).history(1)[0]["operation"] == "DELETE"


def test_a_release_whose_files_were_vacuumed_is_refused(tmp_path: Path):
    path, context = _delta(tmp_path)
    plan = QUARANTINE.plan(window_incident(2), QUARANTINE.parse_params({}), context)
    QUARANTINE.apply(plan, context)
    os.remove(plan.steps[0].details["files"][0]["local_path"])  # what vacuum does later
    with pytest.raises(TableChanged, match="no longer exist"):
        QUARANTINE.rollback(plan, context)
    assert deltalake.DeltaTable(str(path)).version() == 4  # nothing committed


def test_a_window_without_rows_is_refused(tmp_path: Path):
    _path, context = _delta(tmp_path)
    with pytest.raises(PlanRefused, match="holds rows of"):
        QUARANTINE.plan(window_incident(20), QUARANTINE.parse_params({}), context)


def test_iceberg_quarantine_and_release_round_trip(tmp_path: Path):
    table = iceberg_of_days(tmp_path, 4, null_days={1})
    config = table_config(
        {
            "format": "iceberg",
            "catalog": {"uri": f"sqlite:///{tmp_path / 'catalog.db'}"},
            "table": "shop.orders",
        },
        tmp_path / "work",
    )
    context = playbook_context(config, "orders")
    before = iceberg_rows(tmp_path)
    plan = QUARANTINE.plan(window_incident(1), QUARANTINE.parse_params({}), context)
    assert plan.steps[0].details["version_before"] == str(table.current_snapshot().snapshot_id)
    log = QUARANTINE.apply(plan, context)
    assert log[0]["outcome"] == "committed"
    assert iceberg_rows(tmp_path) == [row for row in before if row[3] != "d01"]
    assert QUARANTINE.apply(plan, context)[0]["outcome"] == "committed already"

    table = table.refresh()
    table.append(day_rows(9))
    assert QUARANTINE.rollback(plan, context)[0]["outcome"] == "committed"
    assert iceberg_rows(tmp_path) == sorted(before + delta_rows_of_day(9))
    assert QUARANTINE.rollback(plan, context)[0]["outcome"] == "committed already"

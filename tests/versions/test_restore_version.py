"""restore_version: a Delta or Iceberg table returns to the version before a bad write,
goes forward again on rollback, and never drops a write made after the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.remediation.proposals import playbook_context
from playbooks.base import PlanRefused
from playbooks.registry import get_playbook
from playbooks.versioned.base import TableChanged
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

RESTORE = get_playbook("restore_version")


def _bad_delta_write(tmp_path: Path):
    """Versions 0-2 are three good days; version 3 overwrote the table with one bad day
    under a changed schema (a column renamed)."""
    path = tmp_path / "orders"
    delta_of_days(path, 3)
    bad = day_rows(3, nulls=True).rename_columns(["id", "ts", "amount", "day"])
    deltalake.write_deltalake(
        str(path), bad, mode="overwrite", schema_mode="overwrite", partition_by=["day"]
    )
    config = table_config({"format": "delta", "path": str(path)}, tmp_path / "work")
    return path, playbook_context(config, "orders")


def test_delta_returns_to_the_version_before_the_bad_write_and_back(tmp_path: Path):
    path, context = _bad_delta_write(tmp_path)
    good = delta_rows(path, version=2)
    plan = RESTORE.plan(window_incident(3, version="3"), RESTORE.parse_params({}), context)
    details = plan.steps[0].details
    assert (details["from_version"], details["to_version"]) == ("3", "2")
    assert (details["rows_from"], details["rows_to"]) == (100, 300)
    assert len(details["files_back"]) == 3 and len(details["files_out"]) == 1
    assert "from version 3 to version 2" in plan.summary

    log = RESTORE.apply(plan, context)
    assert log[0]["outcome"] == "committed" and log[0]["version_now"] == "4"
    assert delta_rows(path) == good
    restore = deltalake.DeltaTable(str(path)).history(1)[0]
    assert restore["operation"] == "RESTORE" and restore["warden.plan"] == plan.hash
    assert RESTORE.apply(plan, context)[0]["outcome"] == "committed already"

    undone = RESTORE.rollback(plan, context)
    assert undone[0]["outcome"] == "committed" and undone[0]["version_now"] == "5"
    table = deltalake.DeltaTable(str(path))
    assert "amount" in table.schema().to_arrow().names  # version 3's content is back
    assert table.to_pyarrow_dataset().count_rows() == 100
    assert RESTORE.rollback(plan, context)[0]["outcome"] == "committed already"


def test_a_write_after_the_plan_is_never_dropped(tmp_path: Path):
    path, context = _bad_delta_write(tmp_path)
    plan = RESTORE.plan(window_incident(3, version="3"), RESTORE.parse_params({}), context)
    deltalake.write_deltalake(
        str(path),
        day_rows(4, nulls=True).rename_columns(["id", "ts", "amount", "day"]),
        mode="append",
        partition_by=["day"],
    )
    with pytest.raises(TableChanged, match="at version 4 now, not 3 as planned"):
        RESTORE.apply(plan, context)
    assert deltalake.DeltaTable(str(path)).version() == 4


def test_what_cannot_be_restored_is_refused(tmp_path: Path):
    _path, context = _bad_delta_write(tmp_path)
    params = RESTORE.parse_params
    with pytest.raises(PlanRefused, match="names no dataset version"):
        RESTORE.plan(window_incident(3), params({}), context)
    with pytest.raises(PlanRefused, match="current version already"):
        RESTORE.plan(window_incident(3), params({"version": "3"}), context)
    with pytest.raises(PlanRefused, match="no readable version '17'"):
        RESTORE.plan(window_incident(3), params({"version": "17"}), context)
    with pytest.raises(PlanRefused, match="the table's first"):
        RESTORE.plan(window_incident(0, version="0"), params({}), context)
    parquet = table_config({"format": "parquet", "path": str(_path)}, _path.parent / "work")
    with pytest.raises(PlanRefused, match="has no versions of its own"):
        RESTORE.plan(window_incident(3), params({}), playbook_context(parquet, "orders"))


def test_a_version_whose_files_were_vacuumed_is_refused(tmp_path: Path):
    path, context = _bad_delta_write(tmp_path)
    deltalake.DeltaTable(str(path)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    with pytest.raises(PlanRefused, match="no longer exist"):
        RESTORE.plan(window_incident(3, version="3"), RESTORE.parse_params({}), context)


def test_iceberg_returns_to_the_parent_snapshot_and_forward_again(tmp_path: Path):
    table = iceberg_of_days(tmp_path, 3)
    good = table.current_snapshot().snapshot_id
    table.append(day_rows(3, nulls=True))
    table = table.refresh()
    bad = table.current_snapshot().snapshot_id
    config = table_config(
        {
            "format": "iceberg",
            "catalog": {"uri": f"sqlite:///{tmp_path / 'catalog.db'}"},
            "table": "shop.orders",
        },
        tmp_path / "work",
    )
    context = playbook_context(config, "orders")
    plan = RESTORE.plan(window_incident(3, version=str(bad)), RESTORE.parse_params({}), context)
    assert plan.steps[0].details["to_version"] == str(good)
    assert RESTORE.apply(plan, context)[0]["outcome"] == "committed"
    assert iceberg_rows(tmp_path) == iceberg_rows(tmp_path, good)
    assert RESTORE.apply(plan, context)[0]["outcome"] == "committed already"
    assert RESTORE.rollback(plan, context)[0]["outcome"] == "committed"
    assert iceberg_rows(tmp_path) == iceberg_rows(tmp_path, bad)
    assert RESTORE.rollback(plan, context)[0]["outcome"] == "at the replaced version already"

"""Check a config against its data: every column it names exists, and the time column can
cut windows (`warden validate-config`, with --check-data).

Each dataset is opened the way a scan opens it (`daemon.scan.datasets.open_dataset`: the
same engine, the same checks of the time column), which reads schemas and a small sample of
a text time column, never the data itself. Then every name the config gives a column is
looked up in its dataset's columns:

- a dataset's `time_column`, `entity_column` and `roles` (`label`, `prediction`);
- a monitor's `columns` and `column_methods`, in its dataset and in the dataset it is
  compared with (a reference `dataset`, a skew monitor's `offline`);
- a route's `match.column` and the params of its playbook that name columns
  (`id_column`, `probability_columns`, `stratify_by`, `columns`...), in the datasets the
  route can match.

A name that is missing is a problem at the config key that holds it
(`monitors.churn_drift.columns[2]`), with the closest column name when one is close. A
dataset that cannot be reached or read is a problem with the reason, never a traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from daemon.config.base import closest
from daemon.config.models import (
    DatasetReference,
    DriftMonitor,
    QualityMonitor,
    SkewMonitor,
    WardenConfig,
)
from daemon.scan.datasets import open_dataset
from detectors.sources.errors import SourceError

log = logging.getLogger(__name__)
#: Columns listed after a missing name, at most (a wide table would drown the message).
LISTED_COLUMNS = 30


@dataclass(frozen=True)
class DataProblem:
    """A config key whose value does not fit the data.

    `path` names the key for a person (`monitors.churn_drift.columns[2]`); `location` is
    the same key as the config file nests it (`monitors[3].columns[2]`), to find its line.
    """

    path: str
    message: str
    location: str


@dataclass
class DataReport:
    """What checking a config against its data found: problems make it unusable,
    warnings do not (`path: message` text)."""

    problems: list[DataProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_data(config: WardenConfig) -> DataReport:
    """Open every dataset of `config` and check each column name it gives against them."""
    report = DataReport()
    columns = {
        name: _dataset_columns(name, config, report) for name, dataset in config.datasets.items()
    }
    for name, dataset in config.datasets.items():
        if dataset.is_assets:  # files, not columns: only its folder is checked
            continue
        names = {
            "time_column": dataset.time_column,
            "entity_column": dataset.entity_column,
            "roles.label": dataset.roles.label,
            "roles.prediction": dataset.roles.prediction,
        }
        for key, column in names.items():
            where = f"datasets.{name}.{key}"
            _look_up(report, where, where, column, name, columns[name])
    for index, monitor in enumerate(config.monitors):
        _check_monitor(report, index, monitor, columns)
    for index, route in enumerate(config.routes):
        _check_route(report, index, route, config, columns)
    return report


def _dataset_columns(name: str, config: WardenConfig, report: DataReport) -> dict[str, str] | None:
    """The dataset's columns (name -> type), read as a scan reads them; None (and a
    problem) when they cannot be read."""
    dataset = config.datasets[name]
    if dataset.is_assets:
        _check_asset_folder(name, dataset.path or "", report)
        if dataset.manifest:
            _check_manifest(name, dataset.manifest, dataset.path or "", dataset.time_from, report)
        return None
    try:
        source = open_dataset(name, dataset)
    except SourceError as error:
        if error.missing is None:  # a missing column is reported with the others, below
            where = f"datasets.{name}" + (f".{error.key}" if error.key else "")
            report.problems.append(DataProblem(where, str(error), where))
        return error.columns
    except Exception as error:  # an engine's own failure, said without a traceback
        log.debug("opening dataset %s failed", name, exc_info=True)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        where = f"datasets.{name}"
        report.problems.append(
            DataProblem(
                where,
                f"dataset {name!r} cannot be read: {type(error).__name__}"
                + (f": {reason}" if reason else ""),
                where,
            )
        )
        return None
    try:
        if dataset.time_format is not None and "time_format" not in source.spec:
            report.warnings.append(
                f"datasets.{name}.time_format: time column {dataset.time_column!r} is not "
                f"text ({source.columns().get(dataset.time_column)}), so time_format is not used"
            )
        return source.columns()
    finally:
        _close(source.table, dataset.format)


def _check_asset_folder(name: str, path: str, report: DataReport) -> None:
    """A files dataset's folder (or a glob's root) must be a folder Warden can list."""
    from detectors.assets.walk import split_pattern

    root, _ = split_pattern(path)
    if not root.is_dir():
        where = f"datasets.{name}.path"
        report.problems.append(
            DataProblem(
                where, f"asset folder {str(root)!r} does not exist or is not a folder", where
            )
        )
    elif not os.access(root, os.R_OK | os.X_OK):
        where = f"datasets.{name}.path"
        report.problems.append(
            DataProblem(where, f"asset folder {str(root)!r} cannot be listed", where)
        )


def _check_manifest(
    name: str, file: str, path: str, time_from: str | None, report: DataReport
) -> None:
    """A files dataset's manifest must be a table with a `path` column (and a `time`
    column when the files' times come from it)."""
    from detectors.assets.manifest import Manifest
    from detectors.assets.walk import split_pattern

    where = f"datasets.{name}.manifest"
    try:
        with Manifest(file, str(split_pattern(path)[0])) as manifest:
            if time_from == "manifest" and not manifest.has_time:
                report.problems.append(
                    DataProblem(
                        where,
                        f"manifest {file!r} has no `time` column, and time_from is manifest",
                        where,
                    )
                )
    except SourceError as error:
        report.problems.append(DataProblem(where, str(error), where))


def _close(table: Any, dataset_format: str) -> None:
    """Disconnect the dataset's engine (not Spark's: its session is the process's)."""
    if dataset_format == "spark":
        return
    try:
        table.get_backend().disconnect()
    except Exception:  # closing is best effort; the process ends soon
        log.debug("closing an engine failed", exc_info=True)


def _look_up(
    report: DataReport,
    path: str,
    location: str,
    column: str | None,
    dataset: str,
    columns: dict[str, str] | None,
) -> bool:
    """Add a problem when `column` is not in `dataset`; True when it is there (or nothing
    is named, or the columns are unknown: the dataset's own problem says why)."""
    if column is None or columns is None or column in columns:
        return True
    report.problems.append(DataProblem(path, missing_message(column, dataset, columns), location))
    return False


def missing_message(column: str, dataset: str, columns: Iterable[str]) -> str:
    """`column 'tenure_m' is not in dataset 'churn'; did you mean 'tenure_months'? ...`

    >>> print(missing_message("ammount", "events", ["ts", "amount"]))
    column 'ammount' is not in dataset 'events'; did you mean 'amount'? (columns: ts, amount)
    """
    names = list(columns)
    suggestion = closest(column, names)
    listed = ", ".join(names[:LISTED_COLUMNS]) + (", ..." if len(names) > LISTED_COLUMNS else "")
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return f"column {column!r} is not in dataset {dataset!r}{hint} (columns: {listed})"


def _check_monitor(
    report: DataReport, index: int, monitor: Any, columns: dict[str, dict[str, str] | None]
) -> None:
    """A monitor's columns, in its dataset and in the one it is compared with."""
    datasets = [monitor.dataset]
    if isinstance(monitor, SkewMonitor):
        datasets.append(monitor.offline)
    elif isinstance(monitor, DriftMonitor | QualityMonitor) and isinstance(
        monitor.reference, DatasetReference
    ):
        datasets.append(monitor.reference.dataset)
    named = f"monitors.{monitor.name}"
    nested = f"monitors[{index}]"
    for position, column in enumerate(getattr(monitor, "columns", None) or []):
        for dataset in dict.fromkeys(datasets):
            key = f"columns[{position}]"
            _look_up(
                report, f"{named}.{key}", f"{nested}.{key}", column, dataset, columns.get(dataset)
            )
    for column in getattr(monitor, "column_methods", None) or {}:
        key = f"column_methods.{column}"
        _look_up(
            report,
            f"{named}.{key}",
            f"{nested}.{key}",
            column,
            monitor.dataset,
            columns.get(monitor.dataset),
        )


def names_columns(key: str) -> bool:
    """Whether a playbook param names columns of the dataset, by its name (`id_column`,
    `probability_columns`, `columns`, `stratify_by`); a test keeps this rule in step with
    the playbooks' params.

    >>> [key for key in ("id_column", "columns", "seed", "stratify_by") if names_columns(key)]
    ['id_column', 'columns', 'stratify_by']
    """
    return key in ("columns", "stratify_by") or key.endswith(("_column", "_columns"))


def _check_route(
    report: DataReport,
    index: int,
    route: Any,
    config: WardenConfig,
    columns: dict[str, dict[str, str] | None],
) -> None:
    """A route's columns must be in a dataset it can match; a playbook param's columns in
    every such dataset (elsewhere the playbook would refuse, a warning)."""
    reachable = _route_datasets(route, config)
    known = {name: columns[name] for name in reachable if columns.get(name) is not None}
    if not known:
        return  # no dataset to check against, or each one's own problem says why
    named: list[tuple[str, str]] = []
    for position, column in enumerate(route.match.column or []):
        named.append((f"match.column[{position}]", column))
    playbook_columns: list[tuple[str, str]] = []
    for key, value in (route.params or {}).items():
        if not names_columns(str(key)):
            continue
        if isinstance(value, str):
            playbook_columns.append((f"params.{key}", value))
        elif isinstance(value, list | tuple):
            playbook_columns.extend(
                (f"params.{key}[{position}]", item)
                for position, item in enumerate(value)
                if isinstance(item, str)
            )
    prefix = f"routes[{index}]"
    for key, column in [*named, *playbook_columns]:
        lacking = [name for name, found in known.items() if column not in (found or {})]
        if len(lacking) == len(known):
            first = lacking[0]
            message = missing_message(column, first, known[first] or {})
            if len(known) > 1:
                message = (
                    f"column {column!r} is in none of the datasets this route matches "
                    f"({', '.join(known)})"
                )
            report.problems.append(DataProblem(f"{prefix}.{key}", message, f"{prefix}.{key}"))
        elif lacking and (key, column) in playbook_columns:
            report.warnings.append(
                f"{prefix}.{key}: column {column!r} is not in dataset(s) "
                f"{', '.join(lacking)}, which this route also matches: {route.playbook} "
                "would refuse there"
            )


def _route_datasets(route: Any, config: WardenConfig) -> list[str]:
    """The datasets whose incidents a route can match (by its dataset and monitor)."""
    names = set(config.datasets)
    if route.match.dataset:
        names &= set(route.match.dataset)
    if route.match.monitor:
        names &= {m.dataset for m in config.monitors if m.name in route.match.monitor}
    return sorted(names)

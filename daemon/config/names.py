"""Names that tie a config together: each must refer to something the config defines, and
the names that identify an entry must be unique.

A monitor's `dataset`, `offline` and `reference.dataset` must name a dataset under
`datasets` (and an `assets` monitor a files dataset, any other kind a table); a route's or
maintenance window's `match.monitor` and `match.dataset` must name
a monitor or dataset the config defines; and monitor, route and maintenance window names may
each be used once. Every problem is found, not just the first.

The checks run on plain data (the file as read), not on a validated `WardenConfig`, so a
misspelt name is reported in the same pass as the config's other schema errors, which would
otherwise stop validation before any check across sections could run. The loader runs them
on the file and reports each problem at its line; `WardenConfig` runs them on its own dump
when built in code, unless the caller says it checked already (`NAMES_CHECKED_BY_CALLER`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.config.base import unknown_name_message

#: Validation context key: the caller checks names itself with `name_problems` (the loader
#: does, to report each at its line), so the model does not report them a second time.
NAMES_CHECKED_BY_CALLER = "names_checked_by_caller"


@dataclass(frozen=True)
class NameProblem:
    """A name that refers to nothing the config defines, or that is used twice.

    `path` is the field (`routes[1].match.dataset`); `entry` is the name itself
    (`routes[1].match.dataset[0]` when the field holds a list), where a person looks.
    """

    path: str
    message: str
    entry: str


def name_problems(data: Mapping[str, Any], place: Callable[[str], str] = str) -> list[NameProblem]:
    """Every dataset or monitor name in `data` that the config does not define, and every
    monitor, route or maintenance window name used twice, all of them.

    `data` is the config as plain data (the file as read, or a model dump); a part of the
    wrong shape is skipped, because validation reports it. A repeated name is reported at
    its second use, and `place` renders the path of the first in the message (the loader
    adds its line).
    """
    datasets = data.get("datasets")
    dataset_names = sorted(str(name) for name in datasets) if isinstance(datasets, dict) else []
    monitors = _entries(data, "monitors")
    monitor_names = sorted(
        {monitor["name"] for _, monitor in monitors if isinstance(monitor.get("name"), str)}
    )
    problems: list[NameProblem] = []

    def check(path: str, value: Any, noun: str, known: list[str], *, many: bool = False) -> None:
        if isinstance(value, str):
            named = [(path, value)]
        elif many and isinstance(value, list):
            named = [(f"{path}[{index}]", name) for index, name in enumerate(value)]
        else:
            return
        for entry, name in named:
            if isinstance(name, str) and name not in known:
                problems.append(NameProblem(path, unknown_name_message(noun, name, known), entry))

    def check_unique(
        where: str, entry: Mapping[str, Any], noun: str, first_use: dict[str, str]
    ) -> None:
        name = entry.get("name")
        if not isinstance(name, str):
            return
        path = f"{where}.name"
        if name in first_use:
            message = (
                f"{noun} name {name!r} is already used at {place(first_use[name])}; "
                "names must be unique"
            )
            problems.append(NameProblem(path, message, path))
        else:
            first_use[name] = path

    first_monitor_use: dict[str, str] = {}
    assets_monitor_of: dict[str, str] = {}
    for index, monitor in monitors:
        where = f"monitors[{index}]"
        check_unique(where, monitor, "monitor", first_monitor_use)
        check(f"{where}.dataset", monitor.get("dataset"), "dataset", dataset_names)
        check(f"{where}.offline", monitor.get("offline"), "dataset", dataset_names)
        kind_problem = _kind_problem(monitor, datasets if isinstance(datasets, dict) else {})
        if kind_problem is not None:
            problems.append(NameProblem(f"{where}.kind", kind_problem, f"{where}.kind"))
        if monitor.get("kind") == "assets" and isinstance(monitor.get("dataset"), str):
            # One record per file and dataset: two monitors would read it with two sets of
            # limits and race each other to write it.
            dataset_name = monitor["dataset"]
            if dataset_name in assets_monitor_of:
                message = (
                    f"dataset {dataset_name!r} is already watched by the assets monitor at "
                    f"{place(assets_monitor_of[dataset_name])}; one assets monitor per dataset"
                )
                problems.append(NameProblem(f"{where}.dataset", message, f"{where}.dataset"))
            else:
                assets_monitor_of[dataset_name] = where
        reference = monitor.get("reference")
        if isinstance(reference, dict):
            check(f"{where}.reference.dataset", reference.get("dataset"), "dataset", dataset_names)
    sections = (
        ("routes", "route"),
        ("maintenance", "maintenance window"),
        ("escalations", "escalation policy"),
    )
    for section, noun in sections:
        first_use: dict[str, str] = {}
        for index, entry in _entries(data, section):
            where = f"{section}[{index}]"
            match = entry.get("match")
            if isinstance(match, dict):
                path = f"{where}.match"
                check(f"{path}.monitor", match.get("monitor"), "monitor", monitor_names, many=True)
                check(f"{path}.dataset", match.get("dataset"), "dataset", dataset_names, many=True)
            check_unique(where, entry, noun, first_use)
    return problems


def _kind_problem(monitor: Mapping[str, Any], datasets: Mapping[str, Any]) -> str | None:
    """Why a monitor's kind cannot read its dataset: `assets` monitors read files datasets
    (binary assets), every other kind reads tables; None when they fit."""
    kind, name = monitor.get("kind"), monitor.get("dataset")
    dataset = datasets.get(name) if isinstance(name, str) else None
    if not isinstance(kind, str) or not isinstance(dataset, dict):
        return None
    is_files = dataset.get("format") == "files"
    if kind == "assets" and not is_files:
        return (
            f"an assets monitor watches a files dataset (format: files); dataset {name!r} is "
            f"{dataset.get('format')!r}"
        )
    if kind != "assets" and is_files:
        return (
            f"a {kind} monitor reads a table; dataset {name!r} holds binary files "
            "(format: files): watch it with kind: assets"
        )
    return None


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list section with their positions; anything else is skipped."""
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]

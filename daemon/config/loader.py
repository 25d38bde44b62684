"""Load a config file: YAML -> ${VAR} substitution -> WARDEN_* overrides -> validation.

Every problem is reported with the file, the path inside it (`monitors[1].schedule`), the
line, what is wrong and what would be right; `ConfigError` carries them all at once so a
person fixes the file in one pass.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daemon.config.base import closest
from daemon.config.errors import ConfigError, ConfigProblem
from daemon.config.models import MONITOR_KINDS, SECRET_FIELDS, WardenConfig
from daemon.config.names import NAMES_CHECKED_BY_CALLER, name_problems
from daemon.settings import environment_overrides

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> WardenConfig:
    """Read, substitute and validate a config file; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    file = str(path)
    raw, root = _read_yaml(file)
    problems: list[ConfigProblem] = []
    raw = _substitute(raw, environ, "", problems, root)
    problems.extend(_secret_problems(raw, _read_yaml(file)[0], root))
    # Overrides from the environment first: a relative path given there (a SQLite store,
    # a work_root) means the same as in the file, relative to the file's folder.
    raw = _deep_merge(raw, environment_overrides(environ))
    raw = _relative_to(raw, Path(file).resolve().parent)
    config = _validate(raw, root, problems)
    problems.extend(_name_problems(raw, root))
    # In file order, so a person can fix them top to bottom (sorted() is stable).
    problems = sorted(problems, key=lambda problem: problem.line or 0)
    if config is None or problems:
        raise ConfigError(file, problems)
    return config


def _validate(raw: dict[str, Any], root: Any, problems: list[ConfigProblem]) -> WardenConfig | None:
    """Validate; on unknown keys, report them, drop them and validate again, so that the
    other problems of the same section are reported in the same pass."""
    data = copy.deepcopy(raw)
    for _ in range(20):  # each round removes at least one key; 20 nested levels is plenty
        try:
            return WardenConfig.model_validate(data, context={NAMES_CHECKED_BY_CALLER: True})
        except ValidationError as error:
            items = error.errors()
        unknown = [item for item in items if item["type"] == "unknown_keys"]
        problems.extend(_problem_from_error(item, data, root) for item in unknown)
        if not unknown:
            problems.extend(_problem_from_error(item, data, root) for item in items)
            return None
        for item in unknown:
            target = _value_at(data, _data_location(item["loc"], data, "unknown_keys"))
            for key in item["ctx"]["keys"]:
                target.pop(key, None)
    return None


def _name_problems(raw: dict[str, Any], root: Any) -> list[ConfigProblem]:
    """Names that refer to nothing (a monitor's dataset, a route's monitor...) and monitor,
    route or maintenance window names used twice; checked on the file as read, so they are
    reported even when validation failed elsewhere."""

    def place(path: str) -> str:
        line = _line_of(root, path)
        return path if line is None else f"{path} (line {line})"

    return [
        ConfigProblem(problem.path, problem.message, _line_of(root, problem.entry))
        for problem in name_problems(raw, place)
    ]


def _value_at(data: Any, location: list[Any]) -> Any:
    for part in location:
        data = data[part]
    return data


def _read_yaml(file: str) -> tuple[dict[str, Any], yaml.Node | None]:
    target = Path(file)
    if not target.exists():
        raise ConfigError(
            file,
            [
                ConfigProblem(
                    "",
                    f"the file does not exist ({target.resolve()}); pass --config FILE, set "
                    "WARDEN_CONFIG, or write a starter config with `warden init`",
                )
            ],
        )
    if target.is_dir():
        raise ConfigError(
            file, [ConfigProblem("", "this is a folder; give the path of a YAML config file")]
        )
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(file, [ConfigProblem("", f"cannot read the file: {error}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(file, [ConfigProblem("", f"not valid YAML: {reason}", line)]) from None
    if data is None:
        raise ConfigError(
            file,
            [ConfigProblem("", "the file is empty; it needs at least `datasets` and `monitors`")],
        )
    if not isinstance(data, dict):
        raise ConfigError(
            file,
            [
                ConfigProblem(
                    "", f"the top level must be a mapping of sections, not a {type(data).__name__}"
                )
            ],
        )
    return data, root


def _substitute(
    value: Any, environ: Mapping[str, str], path: str, problems: list[ConfigProblem], root: Any
) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string; an unset VAR is a problem."""
    if isinstance(value, dict):
        return {
            key: _substitute(item, environ, _join(path, key), problems, root)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute(item, environ, f"{path}[{index}]", problems, root)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            ConfigProblem(
                path,
                f"environment variable {name} is not set "
                f"(export it, or write ${{{name}:-default}})",
                _line_of(root, path),
            )
        )
        return ""

    return _VARIABLE.sub(replace, value)


def _secret_problems(
    substituted: dict[str, Any], original: dict[str, Any], root: Any
) -> list[ConfigProblem]:
    problems = []
    for section, key in SECRET_FIELDS:
        block = original.get(section)
        if not isinstance(block, dict) or key not in block or block[key] is None:
            continue
        written = block[key]
        if not (isinstance(written, str) and _VARIABLE.fullmatch(written.strip())):
            path = f"{section}.{key}"
            variable = f"WARDEN_{section.upper()}__{key.upper()}"
            problems.append(
                ConfigProblem(
                    path,
                    f"secrets may not be written in the file; write `{key}: ${{SOME_VARIABLE}}` "
                    f"or set {variable} in the environment",
                    _line_of(root, path),
                )
            )
    return problems


def _relative_to(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the file's relative dataset paths (and manifests) and SQLite store path relative
    to its folder, so a config works the same from any working directory."""
    data = copy.deepcopy(raw)
    for dataset in (
        (data.get("datasets") or {}).values() if isinstance(data.get("datasets"), dict) else ()
    ):
        for key in ("path", "manifest"):
            if (
                isinstance(dataset, dict)
                and isinstance(dataset.get(key), str)
                and dataset[key]
                and not os.path.isabs(dataset[key])
                and "://" not in dataset[key]  # a URI (s3a://, hdfs://) for Spark
            ):
                dataset[key] = os.path.normpath(base / dataset[key]) + (
                    "/" if dataset[key].endswith("/") else ""
                )
        catalog = dataset.get("catalog") if isinstance(dataset, dict) else None
        if isinstance(catalog, dict) and isinstance(catalog.get("uri"), str):
            catalog["uri"] = _sqlite_relative_to(catalog["uri"], base)
    playbooks = data.get("playbooks")
    if playbooks is None and isinstance(data, dict):
        playbooks = data["playbooks"] = {}
    if isinstance(playbooks, dict):
        # Omitted or relative, work_root is relative to the file, never to the current
        # directory: two commands run from two folders must share one work_root.
        work_root = playbooks.get("work_root", "warden-work")
        if isinstance(work_root, str) and not os.path.isabs(work_root):
            playbooks["work_root"] = os.path.normpath(base / work_root)
    store = data.get("store")
    if isinstance(store, dict) and isinstance(store.get("url"), str):
        store["url"] = _sqlite_relative_to(store["url"], base)
    lineage = data.get("lineage")
    openlineage = lineage.get("openlineage") if isinstance(lineage, dict) else None
    target = openlineage.get("file") if isinstance(openlineage, dict) else None
    if isinstance(openlineage, dict) and isinstance(target, str) and not os.path.isabs(target):
        openlineage["file"] = os.path.normpath(base / target)
    return data


def _sqlite_relative_to(url: str, base: Path) -> str:
    """A `sqlite:///relative.db` URL made relative to `base`; any other URL as it is."""
    prefix = "sqlite:///"
    rest = url[len(prefix) :]
    if (
        url.startswith(prefix)
        and rest
        and not rest.startswith(("/", ":memory:"))
        and "mode=memory" not in rest
    ):
        return prefix + os.path.normpath(base / rest)
    return url


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _problem_from_error(error: Any, raw: Any, root: Any) -> ConfigProblem:
    """Turn one pydantic error into a located, person-readable problem."""
    location = _data_location(error["loc"], raw, error["type"])
    path = ""
    for part in location:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        message = (
            f"required key `{location[-1]}` is missing" if location else "a required key is missing"
        )
    elif kind == "union_tag_invalid":
        message = (
            f"unknown monitor kind {error['input'].get('kind')!r}; "
            f"use one of: {', '.join(MONITOR_KINDS)}"
        )
    elif kind == "union_tag_not_found":
        message = f"this monitor has no `kind`; add one of: {', '.join(MONITOR_KINDS)}"
    elif kind in ("dict_type", "model_type") and not isinstance(error.get("input"), dict):
        message = f"expected a mapping of keys here, got {error.get('input')!r}"
    elif kind == "literal_error" and isinstance(error.get("input"), str):
        # pydantic lists the choices (`Input should be 'a', 'b' or 'c'`); name the likely one.
        choices = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        suggestion = closest(error["input"], choices)
        if suggestion is not None:
            message += f"; did you mean {suggestion!r}?"
    line_path = path
    if kind == "unknown_keys" and error.get("ctx", {}).get("keys"):
        # Point at the offending key itself, not at the start of its section.
        line_path = _join(path, error["ctx"]["keys"][0])
    return ConfigProblem(path, message, _line_of(root, line_path))


def _data_location(loc: tuple[Any, ...], raw: Any, kind: str) -> list[Any]:
    """The error location without pydantic's union tags (`drift`, `fixed`...) in it.

    A part that is not in the data is a tag, except the last part of a `missing` error,
    which names the key that should be there.
    """
    location: list[Any] = []
    current = raw
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
        elif last and kind == "missing":
            location.append(part)
            break
        else:
            continue  # a union tag or a validator's name, not a key of the file
        location.append(part)
    return location


def _line_of(root: Any, path: str) -> int | None:
    """1-based line of the entry at `path` in the composed YAML (or of its nearest parent).

    For a mapping entry the key's line is used, which is where a person looks for it.
    """
    if root is None:
        return None
    node = root
    line = node.start_mark.line + 1
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, yaml.SequenceNode) or index >= len(node.value):
                break
            node = node.value[index]
            line = node.start_mark.line + 1
        else:
            if not isinstance(node, yaml.MappingNode):
                break
            entry = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if entry is None:
                break
            line = entry[0].start_mark.line + 1
            node = entry[1]
    return line

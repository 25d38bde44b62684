"""Warden's config: models, loading with located errors, JSON Schema export.

The names are loaded on first use, so importing one light module (``daemon.config.errors``
for the CLI's error handling) does not pull in pydantic and the models.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.config.errors import ConfigError, ConfigProblem
    from daemon.config.loader import load_config
    from daemon.config.models import DatasetConfig, MonitorConfig, WardenConfig

_HOMES = {
    "ConfigError": "daemon.config.errors",
    "ConfigProblem": "daemon.config.errors",
    "load_config": "daemon.config.loader",
    "DatasetConfig": "daemon.config.models",
    "MonitorConfig": "daemon.config.models",
    "WardenConfig": "daemon.config.models",
}

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DatasetConfig",
    "MonitorConfig",
    "WardenConfig",
    "load_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)

"""Warden's config: models, loading with located errors, JSON Schema export."""

from __future__ import annotations

from daemon.config.loader import ConfigError, ConfigProblem, load_config
from daemon.config.models import DatasetConfig, MonitorConfig, WardenConfig

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DatasetConfig",
    "MonitorConfig",
    "WardenConfig",
    "load_config",
]

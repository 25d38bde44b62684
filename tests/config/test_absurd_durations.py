"""A duration longer than a hundred years is refused with a clear message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from tests.cli.conftest import run_warden

CONFIG = """\
datasets:
  events: {format: parquet, path: data, time_column: ts}
monitors:
  - {name: q, kind: quality, dataset: events, window: 100000w,
     reference: {offset: 1d, window: 1d}}
  - {name: f, kind: freshness, dataset: events, max_lag: 99999999999w}
"""


def test_absurd_durations_are_config_errors(tmp_path: Path):
    (tmp_path / "warden.yaml").write_text(CONFIG)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "warden.yaml")
    text = str(refused.value)
    assert "monitors[0].window" in text and "at most a hundred years" in text
    assert "monitors[1].max_lag" in text  # too large even for Python: was an OverflowError
    ran = run_warden("validate-config", "warden.yaml", cwd=tmp_path)
    assert ran.code == 2 and "Internal error" not in ran.stderr, ran.stderr


def test_a_hundred_years_is_still_a_duration(tmp_path: Path):
    (tmp_path / "warden.yaml").write_text(CONFIG.replace("100000w", "36525d").replace(
        "99999999999w", "521w"))  # fmt: skip
    config = load_config(tmp_path / "warden.yaml")
    assert config.monitors[0].window.days == 36525

"""Config loading: valid files load as written; invalid ones fail with located, readable errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from daemon.config.models import (
    DatasetReference,
    DriftMonitor,
    FixedReference,
    FreshnessMonitor,
    RollingReference,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))


def test_the_issue_example_loads_exactly_as_written():
    config = load_config(FIXTURES / "valid" / "issue_example.yaml", environ={})
    drift, freshness = config.monitors
    assert isinstance(drift, DriftMonitor) and isinstance(freshness, FreshnessMonitor)
    assert isinstance(drift.reference, FixedReference)
    assert drift.reference.start == datetime(2018, 1, 1, tzinfo=UTC)
    # A bare end date includes that whole day: the range is [2018-01-01, 2019-01-01).
    assert drift.reference.end == datetime(2019, 1, 1, tzinfo=UTC)
    assert drift.window == timedelta(days=1)
    assert drift.schedule.every == timedelta(minutes=15)
    assert drift.columns == ["car_value", "salary_range"]
    assert freshness.max_lag == timedelta(hours=2) and freshness.expected_every == timedelta(
        hours=1
    )
    loans = config.datasets["loans"]
    assert loans.roles.label == "repaid" and loans.roles.prediction == "y_pred_proba"
    assert loans.entity_column == "id"
    # Relative paths are relative to the config file, not the working directory.
    assert loans.path == str(FIXTURES / "valid" / "data" / "loans") + "/"
    assert config.store.url == f"sqlite:///{FIXTURES / 'valid' / 'warden.db'}"


def test_sql_sources_rolling_and_dataset_references_and_secret_variables():
    config = load_config(
        FIXTURES / "valid" / "sql_and_rolling.yaml", environ={"SLACK_BOT_TOKEN": "xoxb-from-env"}
    )
    weekly, versus_training, quality = config.monitors
    assert isinstance(weekly.reference, RollingReference)
    assert weekly.reference.offset == timedelta(days=7) and weekly.method == "psi"
    assert (
        isinstance(versus_training.reference, DatasetReference)
        and versus_training.reference.dataset == "training"
    )
    assert versus_training.window == timedelta(hours=720)
    assert versus_training.threshold_for("ks") == 0.01
    assert quality.reference.end == datetime(2024, 1, 31, 22, tzinfo=UTC)  # +02:00 converted to UTC
    assert config.datasets["events"].table == "public.events"
    assert config.store.url.startswith(
        "postgresql://"
    )  # not rewritten: only SQLite paths are files
    assert config.slack is not None
    assert config.slack.bot_token.get_secret_value() == "xoxb-from-env"
    assert config.slack.signing_secret.get_secret_value() == "not-a-real-secret"
    assert "xoxb-from-env" not in repr(config.slack)


def test_environment_overrides_beat_the_file():
    config = load_config(
        FIXTURES / "valid" / "issue_example.yaml",
        environ={
            "WARDEN_STORE__URL": "postgresql://prod@db/warden",
            "WARDEN_SLACK__BOT_TOKEN": "xoxb-env",
        },
    )
    assert config.store.url == "postgresql://prod@db/warden"
    assert config.slack is not None and config.slack.bot_token.get_secret_value() == "xoxb-env"


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_configs_name_the_file_the_place_and_the_fix(path: Path):
    expected = path.with_suffix(".expected").read_text().strip()
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = str(caught.value)
    assert str(path) in text.splitlines()[0]
    assert expected in text, f"expected {expected!r} in:\n{text}"


def test_all_problems_are_reported_in_one_pass(tmp_path: Path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "datasets:\n  d: {format: csv, path: x.csv, time_column: t}\n"
        "monitors:\n"
        "  - {name: a, kind: drift, dataset: d, reference: {offset: 7d, window: 1d}, "
        "window: 1 day, shedule: {}}\n"
        "  - {name: b, kind: freshness, dataset: nope, max_lag: 2h}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["monitors[0]", "monitors[0].window", "monitors[1].dataset"]


def test_missing_file_and_folder_are_clear(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"does not exist .*warden init"):
        load_config(tmp_path / "absent.yaml", environ={})
    with pytest.raises(ConfigError, match="this is a folder"):
        load_config(tmp_path, environ={})


def test_unreadable_bytes_are_reported_not_raised(tmp_path: Path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(path, environ={})

"""`daemon.spread_ticks` spreads interval monitors' ticks over a span instead of one burst on
the boundary: each monitor keeps a fixed offset from its name, in whole seconds, below the
span and its own interval; cron schedules and configs without a spread are not moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.runtime.scheduler import describe_schedule, latest_fire_time, tick_offset, trigger_for


def _config(monitors: list[dict], daemon: dict | None = None) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {"events": {"format": "parquet", "path": "e.parquet", "time_column": "ts"}},
            "monitors": [
                {"kind": "freshness", "dataset": "events", "max_lag": "1h", **monitor}
                for monitor in monitors
            ],
            **({"daemon": daemon} if daemon else {}),
        }
    )


def _monitors(count: int, schedule: dict) -> list[MonitorConfig]:
    config = _config([{"name": f"m{i:04d}", "schedule": schedule} for i in range(count)])
    return list(config.monitors)


def test_without_a_spread_every_monitor_ticks_on_the_boundary():
    for monitor in _monitors(20, {"every": "1m"}):
        assert tick_offset(monitor, None) == timedelta(0)
        tick = trigger_for(monitor).get_next_fire_time(
            None, datetime(2025, 1, 1, 12, 0, 1, tzinfo=UTC)
        )
        assert tick == datetime(2025, 1, 1, 12, 1, tzinfo=UTC)


def test_a_spread_gives_each_monitor_a_fixed_whole_second_offset_within_it():
    monitors = _monitors(300, {"every": "1m"})
    spread = timedelta(minutes=1)
    offsets = [tick_offset(monitor, spread) for monitor in monitors]
    assert all(timedelta(0) <= offset < spread for offset in offsets)
    assert all(offset.microseconds == 0 for offset in offsets)
    assert len(set(offsets)) >= 45  # spread over the minute, not bunched
    # The same name gives the same offset in every process: replicas agree on the ticks.
    assert offsets == [tick_offset(monitor, spread) for monitor in _monitors(300, {"every": "1m"})]
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    for monitor, offset in zip(monitors, offsets, strict=True):
        trigger = trigger_for(monitor, spread)
        tick = trigger.get_next_fire_time(None, now)
        assert tick == now + offset or tick == now + offset + timedelta(minutes=1)
        later = tick + timedelta(seconds=7)
        assert latest_fire_time(trigger, later, timedelta(seconds=30)) == tick


def test_the_offset_stays_below_the_monitor_s_own_interval():
    spread = timedelta(hours=1)
    offsets = [tick_offset(m, spread) for m in _monitors(100, {"every": "20s"})]
    assert max(offsets) < timedelta(seconds=20) and len(set(offsets)) > 10


def test_cron_schedules_are_not_moved():
    (monitor,) = _monitors(1, {"cron": "5 0 * * *"})
    assert tick_offset(monitor, timedelta(minutes=1)) == timedelta(0)
    assert "next 2025-01-02 00:05:00" in describe_schedule(
        monitor, datetime(2025, 1, 1, 1, tzinfo=UTC), timedelta(minutes=1)
    )


def test_the_spread_is_read_from_the_config_and_capped_at_an_hour():
    config = _config([{"name": "m", "schedule": {"every": "1m"}}], {"spread_ticks": "1m"})
    assert config.daemon.spread_ticks == timedelta(minutes=1)
    assert _config([{"name": "m", "schedule": {"every": "1m"}}]).daemon.spread_ticks is None
    # What a config holds survives being written out and read back (unset stays unset).
    dumped = config.model_dump(mode="json")
    assert WardenConfig.model_validate(dumped).daemon.spread_ticks == timedelta(minutes=1)
    with pytest.raises(ValidationError, match="at most 1h"):
        _config([{"name": "m", "schedule": {"every": "1m"}}], {"spread_ticks": "2h"})

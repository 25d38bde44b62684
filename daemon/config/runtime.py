"""The `daemon:` block: how `warden run` behaves as a long-running process."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from daemon.config.base import ConfigModel
from detectors.params import Duration

#: How often a daemon refreshes its heartbeat row, in seconds; `instance_stale_after` must
#: leave room for a few missed beats.
HEARTBEAT_SECONDS = 15


class DaemonConfig(ConfigModel):
    """Scheduling health, shutdown and crash recovery of `warden run`."""

    missed_ticks_alert: int = Field(
        3,
        ge=1,
        description="A monitor that misses this many ticks in a row (the scheduler could "
        "not start them in time, or the previous scan was still running) opens a "
        "`missed_ticks` incident of monitor `scheduler/<name>` (default 3). It resolves "
        "after the monitor's scans run again.",
    )
    shutdown_grace: Duration = Field(
        default_factory=lambda: timedelta(seconds=30),
        description="On SIGTERM, how long scans and playbook runs already under way may take "
        "to finish before the process exits anyway (default 30s). Work cut off is left "
        "claimed by a stopped daemon and resumed by the next one (`daemon.runtime.reconciler`).",
    )
    instance_stale_after: Duration = Field(
        default_factory=lambda: timedelta(seconds=90),
        description="A daemon whose heartbeat is older than this is presumed dead, and the "
        f"scans it left running are resumed by another (default 90s; heartbeats come every "
        f"{HEARTBEAT_SECONDS}s, so at least {3 * HEARTBEAT_SECONDS}s).",
    )

    spread_ticks: Duration | None = Field(
        None,
        description="Spread interval monitors' ticks over this much time instead of starting "
        "them all on the same boundary (unset by default: every `every: 1m` monitor ticks "
        "at second 0 of each minute). Each monitor keeps a fixed offset, in whole seconds, "
        "below this and below its own interval, derived from its name, so every replica "
        "computes the same tick times; a tick's windows end at its own time. With a "
        "thousand monitors a minute, `1m` turns one burst into a steady stream. Cron "
        "schedules are not moved. At most 1h.",
    )

    @field_validator("spread_ticks")
    @classmethod
    def _spread_within_an_hour(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value > timedelta(hours=1):
            raise ValueError("must be at most 1h (ticks are moved by less than this)")
        return value

    @field_validator("instance_stale_after")
    @classmethod
    def _room_for_missed_beats(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=3 * HEARTBEAT_SECONDS):
            raise ValueError(
                f"must be at least {3 * HEARTBEAT_SECONDS}s (three heartbeats of "
                f"{HEARTBEAT_SECONDS}s), or a daemon busy for a moment is presumed dead"
            )
        return value

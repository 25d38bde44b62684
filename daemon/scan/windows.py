"""The time windows a monitor compares, as of a scan time.

All windows are half-open [start, end) in UTC. The current window ends at the scan time; the
reference is a fixed range, a rolling range at an offset (`{offset: 7d, window: 1d}` is the
same day last week), or another dataset, optionally limited to a range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.config.models import DatasetReference, FixedReference, RollingReference


@dataclass(frozen=True)
class Window:
    dataset: str
    start: datetime | None
    end: datetime | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "dataset": self.dataset,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def current_window(dataset: str, at: datetime, length: timedelta) -> Window:
    return Window(dataset, at - length, at)


def reference_window(
    dataset: str, reference: FixedReference | RollingReference | DatasetReference, at: datetime
) -> Window:
    if isinstance(reference, FixedReference):
        return Window(dataset, reference.start, reference.end)
    if isinstance(reference, RollingReference):
        end = at - reference.offset
        return Window(dataset, end - reference.window, end)
    return Window(reference.dataset, reference.start, reference.end)

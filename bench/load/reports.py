"""What the numbers say: quantiles, `/metrics` histograms and counters, the ticks against the
schedule, the daemon logs' telling lines, and the progress line printed each minute."""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from daemon.store.engine import Store
from load.daemon_process import Daemon, ProcessSample, summed
from load.store_counts import Scan, scans
from load.workload import TICK

#: Daemon log lines worth counting, by a substring that identifies them.
LOG_SIGNALS = {
    "missed_tick": "missed its tick",
    "apscheduler_missed": "was missed by",
    "skipped_max_instances": "maximum number of running instances",
    "already_claimed": "already claimed by another replica",
    "database_locked": "database is locked",
    "traceback": "Traceback",
}
SCAN_LINE = ": scan at "


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": quantile(values, 0.5),
        "p95": quantile(values, 0.95),
        "p99": quantile(values, 0.99),
        "max": max(values) if values else None,
    }


def histogram(metrics_texts: list[str], name: str) -> dict[str, Any]:
    """Count, mean and bucket-interpolated quantiles of a histogram, summed over labels and
    over the replicas' `/metrics` pages."""
    buckets: Counter[float] = Counter()
    total, count = 0.0, 0.0
    for metrics_text in metrics_texts:
        for family in text_string_to_metric_families(metrics_text):
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] += sample.value
                elif sample.name.endswith("_count"):
                    count += sample.value
                elif sample.name.endswith("_sum"):
                    total += sample.value
    bounds = sorted(buckets)

    def estimate(q: float) -> float | None:
        # As PromQL's histogram_quantile: linear within the bucket holding the rank.
        rank, lower, below = q * count, 0.0, 0.0
        for bound in bounds:
            if buckets[bound] >= rank and count:
                if math.isinf(bound):
                    return lower
                share = (rank - below) / (buckets[bound] - below) if buckets[bound] > below else 1
                return lower + (bound - lower) * share
            lower, below = bound, buckets[bound]
        return None

    return {
        "count": int(count),
        "mean": total / count if count else None,
        "p50": estimate(0.5),
        "p95": estimate(0.95),
        "p99": estimate(0.99),
        "buckets": {("+Inf" if math.isinf(b) else str(b)): int(buckets[b]) for b in bounds},
    }


def counter_by_label(metrics_texts: list[str], name: str, label: str) -> dict[str, int]:
    """A counter of the replicas' `/metrics` summed by one label (empty when the daemon has no
    such metric)."""
    totals: Counter[str] = Counter()
    for metrics_text in metrics_texts:
        for family in text_string_to_metric_families(metrics_text):
            if family.name == name:
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        totals[sample.labels.get(label, "")] += int(sample.value)
    return dict(totals)


def tick_report(rows: list[Scan], monitors: list[str], ticks: list[datetime]) -> dict[str, Any]:
    """Expected against recorded ticks, statuses, lag and per-tick makespan. A monitor's
    tick of minute T is its scan scheduled in [T, T + 1m) (`daemon.spread_ticks` moves it
    up to a minute past T); lag counts from its own scheduled time, makespan from T."""
    seen = {(row.monitor, _minute(row.scheduled_for)) for row in rows}
    missed = [(m, t) for t in ticks for m in monitors if (m, t) not in seen]
    per_tick = []
    for tick in ticks:
        of_tick = [row for row in rows if _minute(row.scheduled_for) == tick]
        finished = [row.finished_at for row in of_tick if row.finished_at is not None]
        lags = [row.lag for row in of_tick]
        per_tick.append(
            {
                "tick": tick.isoformat(),
                "scans": len(of_tick),
                "lag_p50": quantile(lags, 0.5),
                "lag_max": max(lags) if lags else None,
                "makespan": (max(finished) - tick).total_seconds() if finished else None,
            }
        )
    errors = Counter((row.error or "").splitlines()[0][:160] for row in rows if row.error)
    durations = [
        (row.finished_at - row.started_at).total_seconds()
        for row in rows
        if row.finished_at is not None
    ]
    return {
        "expected": len(monitors) * len(ticks),
        "recorded": len(rows),
        "missed": len(missed),
        "missed_monitors": len({monitor for monitor, _ in missed}),
        "statuses": dict(Counter(row.status for row in rows)),
        "lag_seconds": summarise([row.lag for row in rows]),
        "scan_seconds": summarise(durations),
        "per_tick": per_tick,
        "top_errors": errors.most_common(3),
    }


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def log_entries(log_path: Path) -> Iterator[tuple[str, str]]:
    """(level, message) of each log line, JSON (`--log-format json`) or text; an exception's
    last line is appended to its message."""
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                message = str(entry.get("message", ""))
                if entry.get("exception"):
                    last = str(entry["exception"]).strip().splitlines()[-1]
                    message += f" | Traceback: {last}"
                yield str(entry.get("level", "")).upper(), message
                continue
        parts = line.split(" ", 3)  # date, time, LEVEL, "logger: message"
        if len(parts) == 4 and parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            yield parts[2], parts[3]
        else:
            yield "", line  # console output, traceback lines


def log_report(log_paths: list[Path]) -> dict[str, Any]:
    """Counts of the telling lines of the daemon logs, and their other warnings and their
    errors (ERROR, CRITICAL) grouped with numbers (monitor names, times) blanked out."""
    entries = [entry for path in log_paths for entry in log_entries(path)]
    counts = {
        key: sum(needle in message for _, message in entries) for key, needle in LOG_SIGNALS.items()
    }
    counts["scan_lines"] = sum(SCAN_LINE in message for _, message in entries)
    other: Counter[str] = Counter()
    for level, message in entries:
        if level in ("WARNING", "ERROR", "CRITICAL") and SCAN_LINE not in message:
            other[f"{level} {re.sub(r'[0-9]+', 'N', message)[:240]}"] += 1
    counts["other_warnings"] = sum(other.values())
    errors = Counter(
        re.sub(r"[0-9]+", "N", message)[:240]
        for level, message in entries
        if level in ("ERROR", "CRITICAL")
    )
    counts["error_lines"] = sum(errors.values())
    return {**counts, "samples": other.most_common(6), "errors": errors.most_common(6)}


@dataclass
class Progress:
    """The line printed to stderr at the end of each measured minute."""

    store: Store
    daemons: list[Daemon]
    monitors: int
    minutes: int
    last: list[ProcessSample]  # per replica

    def report(self, minute: int, tick: datetime) -> list[ProcessSample]:
        samples = [daemon.sample() for daemon in self.daemons]
        rows = scans(self.store, tick, tick + TICK)
        done = sum(row.status != "running" for row in rows)
        lags = [row.lag for row in rows]
        per_replica = [
            (now.cpu_seconds - before.cpu_seconds) / (now.at - before.at)
            for now, before in zip(samples, self.last, strict=True)
        ]
        cpu = f"cpu {sum(per_replica):.2f} cores"
        if len(per_replica) > 1:
            cpu += " (" + " + ".join(f"{cores:.2f}" for cores in per_replica) + ")"
        missed = sum(
            LOG_SIGNALS["missed_tick"] in message
            for daemon in self.daemons
            for _, message in log_entries(daemon.log_path)
        )
        lag = f"lag p50 {quantile(lags, 0.5):.1f}s max {max(lags):.1f}s" if lags else "no scans"
        total = summed(samples)
        print(
            f"[{datetime.now(UTC):%H:%M:%S}] minute {minute}/{self.minutes} tick {tick:%H:%M}: "
            f"{len(rows)}/{self.monitors} claimed, {done} done | {lag} | daemon logged "
            f"{missed} missed so far | {cpu} | rss {total.rss_mb:.0f} MB, "
            f"{total.threads} threads",
            file=sys.stderr,
            flush=True,
        )
        self.last = samples
        return samples


def replica_report(
    daemon: Daemon,
    samples: dict[str, ProcessSample],
    stopped: tuple[float, int | str],
    window_rows: list[Scan],
    metrics_text: str,
) -> dict[str, Any]:
    """One replica's share: CPU between the `start` and `end` samples, memory when `ready`
    and at the `final` sample, the measured ticks it claimed, its exit and its log."""
    start, end, final = samples["start"], samples["end"], samples["final"]
    cpu = end.cpu_seconds - start.cpu_seconds
    log = log_report([daemon.log_path])
    return {
        "number": daemon.number,
        "pid": daemon.pid,
        "port": daemon.port,
        "cpu_seconds": cpu,
        "cpu_cores_used": cpu / (end.at - start.at),
        "rss_mb_ready": samples["ready"].rss_mb,
        "rss_mb_end": final.rss_mb,
        "peak_rss_mb": final.peak_rss_mb,
        "threads_end": final.threads,
        "scans_claimed": sum(row.claimant_pid == daemon.pid for row in window_rows),
        "lag_observations": histogram([metrics_text], "warden_scheduler_lag_seconds")["count"],
        "stop_seconds": stopped[0],
        "exit_code": stopped[1],
        "log": {key: value for key, value in log.items() if key not in ("samples", "errors")},
    }


def cpu_split(
    before: list[dict[str, Any] | None], after: list[dict[str, Any] | None], scans: int
) -> dict[str, Any] | None:
    """The daemons' CPU over the window by kind of work (`daemon.runtime.cpu_profile`),
    summed over replicas: seconds, and milliseconds per recorded scan. None when a profile
    is missing. The profiles are rewritten every 5 s, so each end is up to 5 s early."""
    if not scans or any(p is None for p in before + after):
        return None
    seconds: dict[str, float] = {}
    for start, end in zip(before, after, strict=True):
        assert start is not None and end is not None
        kinds = {**end["by_kind"], "unattributed": end["unattributed"], "profiler": end["profiler"]}
        for kind, value in kinds.items():
            earlier = start["by_kind"].get(kind, start.get(kind, 0.0))
            seconds[kind] = seconds.get(kind, 0.0) + value - earlier
    total = sum(seconds.values())
    return {
        "seconds": seconds,
        "ms_per_scan": {kind: 1000 * value / scans for kind, value in seconds.items()},
        "share": {kind: value / total if total else 0.0 for kind, value in seconds.items()},
        "scans": scans,
    }

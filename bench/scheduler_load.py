"""The daemon's scheduler under load: N monitors at a 1-minute cadence on `warden run`.

The script writes small seeded Parquet datasets (default 30 of 5,000 rows, two days of events
up to a little past the end of the run, a fifth of them drifted in the last three hours) and
a config of N monitors (default 500: 80 % drift, 10 % quality, 10 % freshness, spread over the
datasets, each `schedule: {every: 1m}`), then runs the real daemon as a subprocess:

    .venv/bin/warden run --config FILE --http-port PORT

so that every CPU second measured is the daemon's own. With `--replicas N` (PostgreSQL only:
on SQLite a second daemon refuses to start) it runs N such daemons on the same store, each on
its own HTTP port (the first alone until ready: replicas started together on a fresh store
race to create the monitor rows, and one exits); every tick is claimed by one of them. They
are started just after a minute boundary, so their first tick T0 is normally the first one
measured (warm-up included: the reference profiles are computed then), and the M ticks T0,
T0+1m, ... T0+(M-1)m are measured (default M=10):

- **Scheduler lag**, per scan, from the store: `scan_run.started_at - scan_run.scheduled_for`
  (`started_at` is stamped when the tick claims its row, so it includes waiting for a worker
  thread and for the store's write lock); p50/p95/p99/max, and per tick the time until its
  last scan finished ("makespan"). Cross-checked with the daemons' own Prometheus histogram
  `warden_scheduler_lag_seconds` from `/metrics` (bucket-interpolated quantiles, summed over
  replicas; each replica observes every tick it tries, claimed by it or not).
- **Ticks**: expected (monitors x minutes) against the scan_run rows of those ticks, the
  missed ones (a monitor with no row for a tick: APScheduler dropped it, as more than the
  misfire grace late or with the previous one still running, or it failed before claiming),
  status counts, and the daemons' own view: `warden_scheduler_missed_ticks`, the
  `missed_ticks` incidents in the store and the logs' warnings (missed ticks, skipped
  instances, ticks "already claimed", errors, tracebacks). Those cover the whole run, the tick
  after the window included (to the scrape, to the exit), so they are a cross-check, not the
  count. Lag is censored at the misfire grace (60 s for a 1m schedule): a scan that would
  start later is dropped and counts as missed.
- **Store writes per scan**: rows inserted, updated and deleted per table between T0 and the
  end, divided by the scans recorded in between. On SQLite the bench adds a counter table
  with AFTER INSERT/UPDATE/DELETE triggers before the daemon starts (one extra counter update
  per row written, inside the same transaction); on PostgreSQL it reads `pg_stat_user_tables`
  (no triggers: they would serialise concurrent scans on the counter row). Also the store's
  growth in bytes.
- **Where the CPU goes**: each daemon runs with `WARDEN_CPU_PROFILE` set
  (`daemon.runtime.cpu_profile`): its Python threads' CPU time charged to compile, execute,
  detector, audit, outbox, store or other by the kind of work each thread marked itself as
  doing (`detectors.work_labels`), the engine's own threads as `unattributed`; printed as
  milliseconds per recorded scan and shares.
- **CPU share**: the daemons' utime+stime (`/proc/<pid>/stat`) over the M minutes divided by
  the wall time, in cores and as a share of `--cores` (default 2), summed over replicas and
  per replica; PostgreSQL's own CPU is not included. **Memory**: peak RSS (`VmHWM`) and RSS
  each minute (`VmRSS`), threads; with replicas, sums (of each one's peak) and per replica.

A progress line goes to stderr every minute; a table to stdout at the end, and with `--json`
one JSON line with every number. Stopping is SIGTERM (to every replica at once), after the
last measured tick's scans have finished; how long each daemon takes to exit is reported too.

    .venv/bin/python bench/scheduler_load.py                            # 500 monitors, 10 min
    .venv/bin/python bench/scheduler_load.py --monitors 50 --minutes 2  # a quick check
    .venv/bin/python bench/scheduler_load.py --store-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/scheduler_load.py --store-url postgresql://... --replicas 2

With `--store-url` on PostgreSQL the bench creates a scratch database beside the one named
(`warden_bench_<random>`, the user must be allowed to CREATE DATABASE) and drops it at the
end, so a test suite using the same server is not disturbed. `--keep` keeps the temporary
folder (data, config, daemon.log or daemon-<n>.log per replica, SQLite store) and the scratch
database for inspection. Linux only (/proc). The parts live in `bench/load/`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from load import daemon_process, reports, store_counts, workload

from daemon.store.engine import open_store
from daemon.store.errors import StoreError
from daemon.store.urls import parse_store_url


def run(args: argparse.Namespace, folder: Path, store_url: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    data_end = now + timedelta(minutes=args.minutes + 20)  # events exist past the last tick
    datasets = workload.write_datasets(
        folder / "data", args.datasets, args.rows, now, data_end, args.seed
    )
    kinds = workload.monitor_kinds(args.monitors, args.seed)
    config = folder / "warden.yaml"
    if not 0 <= args.spread_ticks <= 60:
        raise SystemExit("--spread-ticks must be between 0 and 60 seconds")
    spread = f"{args.spread_ticks}s" if args.spread_ticks else None
    workload.write_config(config, store_url, datasets, kinds, now, spread)

    store = open_store(store_url)  # migrated here, so the counters can be installed first
    if store.backend == "sqlite":
        store_counts.install_write_counters(store)
    ports = daemon_process.free_ports(args.replicas)
    # Start just after a minute boundary: the daemons are then ready before their first tick,
    # and that tick is the first one measured (warm-up included: reference profiles).
    daemon_process.sleep_until(math.ceil(time.time() / 60) * 60 + 1)
    spawned = time.monotonic()
    daemons: list[daemon_process.Daemon] = []
    samples: dict[str, list[daemon_process.ProcessSample]] = {}
    try:
        for number, port in enumerate(ports, 1):
            log_name = "daemon.log" if args.replicas == 1 else f"daemon-{number}.log"
            daemons.append(daemon_process.start_daemon(number, config, port, folder / log_name))
            if number == 1:
                # Replicas started together on a fresh store race to insert the monitor rows
                # (`sync_monitors` reads, then inserts) and the loser exits on a unique
                # violation: the first one writes them before the others start.
                daemon_process.wait_ready(daemons, timeout=180)
        daemon_process.wait_ready(daemons, timeout=180)
        samples["ready"] = [daemon.sample() for daemon in daemons]
        ready = daemon_process.summed(samples["ready"])
        startup_seconds = ready.at - spawned
        # PostgreSQL flushes a backend's table statistics up to 10 s after its last
        # transaction: leave that long between the start-up writes and the first snapshot.
        settle = 12 if store.backend == "postgresql" else 2
        first = math.ceil((time.time() + settle) / 60) * 60
        t0 = datetime.fromtimestamp(first, UTC)
        ticks = [t0 + workload.TICK * k for k in range(args.minutes)]
        window_end = ticks[-1] + workload.TICK
        print(
            f"daemon pid {', '.join(str(daemon.pid) for daemon in daemons)} ready after "
            f"{startup_seconds:.1f} s ({ready.cpu_seconds:.1f} CPU s, rss {ready.rss_mb:.0f} MB);"
            f" measuring ticks {t0:%H:%M} .. {ticks[-1]:%H:%M} UTC",
            file=sys.stderr,
            flush=True,
        )
        daemon_process.sleep_until(first - 2)
        writes_before = store_counts.write_counts(store)
        bytes_before = store_counts.store_bytes(store)
        # Not 0 only when start-up took over a minute.
        runs_before = store_counts.scan_run_total(store)
        samples["start"] = [daemon.sample() for daemon in daemons]
        profiles_before = [daemon_process.read_profile(d.log_path) for d in daemons]
        load_before = os.getloadavg()
        reporter = reports.Progress(store, daemons, args.monitors, args.minutes, samples["start"])
        for minute, tick in enumerate(ticks, 1):
            daemon_process.sleep_until(tick.timestamp() + 58)
            samples["end"] = reporter.report(minute, tick)
        # No scan of the last measured tick starts after its misfire grace (60 s for a 1m
        # schedule; later ones are dropped as missed): then wait for those under way.
        daemon_process.sleep_until(ticks[-1].timestamp() + 61 + args.spread_ticks)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            row.status == "running" for row in store_counts.scans(store, t0, window_end)
        ):
            time.sleep(1)
        metrics_texts = [daemon.get("/metrics")[1] for daemon in daemons]
        time.sleep(daemon_process.PROFILE_WRITE_EVERY)  # the profiles catch up with the window
        profiles_after = [daemon_process.read_profile(d.log_path) for d in daemons]
        samples["final"] = [daemon.sample() for daemon in daemons]
        load_after = os.getloadavg()
    finally:
        stopped = daemon_process.stop_daemons(daemons)
    if store.backend == "postgresql":
        time.sleep(2)  # exited backends flush their table statistics
    writes = store_counts.write_deltas(writes_before, store_counts.write_counts(store))
    bytes_after = store_counts.store_bytes(store)
    runs_during = store_counts.scan_run_total(store) - runs_before
    window_rows = store_counts.scans(store, t0, window_end)
    incidents = store_counts.missed_ticks_incidents(store)
    store.close()

    total_writes = sum(sum(by_operation.values()) for by_operation in writes.values())
    start, end, final = (daemon_process.summed(samples[key]) for key in ("start", "end", "final"))
    wall = end.at - start.at
    cpu = end.cpu_seconds - start.cpu_seconds
    replicas = [
        reports.replica_report(
            daemon,
            {key: samples[key][index] for key in samples},
            stopped[index],
            window_rows,
            metrics_texts[index],
        )
        for index, daemon in enumerate(daemons)
    ]
    return {
        "monitors": args.monitors,
        "spread_ticks_seconds": args.spread_ticks,
        "kinds": dict(Counter(kinds)),
        "datasets": args.datasets,
        "rows_per_dataset": args.rows,
        "minutes": args.minutes,
        "store": store.backend,
        "replicas": args.replicas,
        "first_tick": t0.isoformat(),
        "startup_seconds": startup_seconds,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_cores_used": cpu / wall,
        "cpu_share_of_cores": cpu / wall / args.cores,
        "cores": args.cores,
        "machine_cpus": os.cpu_count(),
        "loadavg_1m_before_after": [load_before[0], load_after[0]],
        "rss_mb_ready": ready.rss_mb,
        "rss_mb_end": final.rss_mb,
        "peak_rss_mb": final.peak_rss_mb,
        "threads_end": final.threads,
        "ticks": reports.tick_report(window_rows, workload.monitor_names(kinds), ticks),
        "metrics_lag": reports.histogram(metrics_texts, "warden_scheduler_lag_seconds"),
        "metrics_scan_duration": reports.histogram(metrics_texts, "warden_scan_duration_seconds"),
        "metrics_missed_ticks": reports.counter_by_label(
            metrics_texts, "warden_scheduler_missed_ticks", "reason"
        ),
        "missed_ticks_incidents": incidents,
        "scans_before_first_tick": runs_before,
        "scans_between_snapshots": runs_during,
        "writes": writes,
        "writes_total": total_writes,
        "writes_per_scan": total_writes / runs_during if runs_during else None,
        "writes_per_minute_tick": total_writes / (runs_during / args.monitors)
        if runs_during
        else None,
        "store_bytes_per_scan": (bytes_after - bytes_before) / runs_during if runs_during else None,
        "stop_seconds": max(seconds for seconds, _ in stopped),
        "exit_codes": [code for _, code in stopped],
        "log": reports.log_report([daemon.log_path for daemon in daemons]),
        "cpu_split": reports.cpu_split(profiles_before, profiles_after, runs_during),
        "per_replica": replicas,
        "folder": str(folder) if args.keep else None,
    }


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def print_table(result: dict[str, Any]) -> None:
    ticks, lag, metrics = result["ticks"], result["ticks"]["lag_seconds"], result["metrics_lag"]
    scan_time = ticks["scan_seconds"]
    summed_over = " (summed over replicas)" if result["replicas"] > 1 else ""
    rows = [
        ("monitors / kinds", f"{result['monitors']} {result['kinds']}"),
        ("datasets x rows", f"{result['datasets']} x {result['rows_per_dataset']}"),
        ("store / replicas", f"{result['store']} / {result['replicas']}"),
        ("daemon.spread_ticks", f"{result['spread_ticks_seconds']} s"),
        ("minutes measured", f"{result['minutes']} from {result['first_tick']}"),
        ("daemon start-up", _num(result["startup_seconds"], " s", 1)),
        ("scans before the first tick", str(result["scans_before_first_tick"])),
        ("ticks expected / recorded", f"{ticks['expected']} / {ticks['recorded']}"),
        ("ticks missed", f"{ticks['missed']} ({ticks['missed_monitors']} monitors)"),
        ("scans recorded per minute", _num(ticks["recorded"] / result["minutes"], "", 1)),
        ("statuses", str(ticks["statuses"])),
        ("lag p50 / p95 / p99 / max (store)", " / ".join(_num(lag[k], " s") for k in lag)),
        (
            "lag count / mean / p50 / p95 (/metrics)",
            f"{metrics['count']} / {_num(metrics['mean'], ' s')} / {_num(metrics['p50'], ' s')}"
            f" / {_num(metrics['p95'], ' s')}",
        ),
        (
            "scan time p50 / p95 / max",
            " / ".join(_num(scan_time[k], " s") for k in scan_time if k != "p99"),
        ),
        (
            "tick makespan per minute",
            " ".join(_num(t["makespan"], "s", 1) for t in ticks["per_tick"]),
        ),
        (
            "tick lag max per minute",
            " ".join(_num(t["lag_max"], "s", 1) for t in ticks["per_tick"]),
        ),
        (
            "cpu" + summed_over,
            f"{_num(result['cpu_seconds'], ' s', 1)} in {_num(result['wall_seconds'], ' s', 1)}"
            f" = {_num(result['cpu_cores_used'])} cores"
            f" = {_num(100 * result['cpu_share_of_cores'], '%', 1)} of {result['cores']} cores",
        ),
        (
            "load average 1m before / after",
            " / ".join(f"{v:.2f}" for v in result["loadavg_1m_before_after"]),
        ),
        (
            "rss ready / end / peak" + summed_over,
            f"{result['rss_mb_ready']:.0f} / {result['rss_mb_end']:.0f} / "
            f"{result['peak_rss_mb']:.0f} MB, {result['threads_end']} threads",
        ),
        ("store writes per scan", _num(result["writes_per_scan"], "", 2)),
        ("store writes per minute", _num(result["writes_per_minute_tick"], "", 0)),
        ("store bytes per scan", _num(result["store_bytes_per_scan"], " B", 0)),
    ]
    for table, operations in result["writes"].items():
        if any(operations.values()) and result["scans_between_snapshots"]:
            per_scan = {k: v / result["scans_between_snapshots"] for k, v in operations.items()}
            rows.append(
                (f"  {table} per scan", "  ".join(f"{k} {v:.2f}" for k, v in per_scan.items() if v))
            )
    split = result["cpu_split"]
    if split is not None:
        ordered = sorted(split["ms_per_scan"].items(), key=lambda item: -item[1])
        rows.append(
            (
                "cpu per scan by kind",
                "  ".join(
                    f"{kind} {ms:.1f} ms ({100 * split['share'][kind]:.0f}%)"
                    for kind, ms in ordered
                ),
            )
        )
    codes = ", ".join(str(code) for code in result["exit_codes"])
    rows += [
        ("stop (SIGTERM to last exit)", f"{result['stop_seconds']:.1f} s, exit {codes}"),
        ("missed ticks (/metrics, whole run)", str(result["metrics_missed_ticks"])),
        ("missed_ticks incidents (store)", str(result["missed_ticks_incidents"])),
        (
            "daemon log (whole run)",
            ", ".join(
                f"{k} {v}" for k, v in result["log"].items() if k not in ("samples", "errors")
            ),
        ),
    ]
    rows += [(f"  x{count}", message) for message, count in result["log"]["samples"]]
    rows += [(f"  ERROR x{count}", message) for message, count in result["log"]["errors"]]
    rows += [(f"  error x{count}", message) for message, count in ticks["top_errors"]]
    if result["replicas"] > 1:
        for replica in result["per_replica"]:
            rows.append(
                (
                    f"replica {replica['number']} (pid {replica['pid']})",
                    f"{replica['scans_claimed']} scans claimed, cpu "
                    f"{replica['cpu_cores_used']:.2f} cores, rss ready / end / peak "
                    f"{replica['rss_mb_ready']:.0f} / {replica['rss_mb_end']:.0f} / "
                    f"{replica['peak_rss_mb']:.0f} MB, stop {replica['stop_seconds']:.1f} s, "
                    f"already claimed {replica['log']['already_claimed']}",
                )
            )
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--monitors", type=int, default=500, help="monitors (default 500)")
    parser.add_argument("--minutes", type=int, default=10, help="ticks measured (default 10)")
    parser.add_argument("--store-url", help="PostgreSQL server to use (default: SQLite file)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="daemons on the store (default 1; >1: PostgreSQL)"
    )
    parser.add_argument("--datasets", type=int, default=30, help="datasets (default 30)")
    parser.add_argument("--rows", type=int, default=5000, help="rows per dataset (default 5000)")
    parser.add_argument("--cores", type=int, default=2, help="cores the CPU share is of")
    parser.add_argument(
        "--spread-ticks",
        type=int,
        default=0,
        help="daemon.spread_ticks in seconds, at most 60 (default 0: unset, every tick on "
        "the minute); each monitor's ticks are then that many seconds or fewer past it",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the folder and scratch store")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()
    if min(args.monitors, args.minutes, args.datasets, args.replicas) < 1:
        parser.error("--monitors, --minutes, --datasets and --replicas must be at least 1")
    if args.store_url:
        try:
            backend = parse_store_url(args.store_url).get_backend_name()
        except StoreError as error:
            parser.error(f"--store-url: {error}")
        if backend != "postgresql":
            parser.error("--store-url must name a PostgreSQL server (without it: SQLite)")
    elif args.replicas > 1:
        parser.error(
            f"--replicas {args.replicas} needs a PostgreSQL --store-url: on SQLite a second "
            "`warden run` refuses to start (one daemon per SQLite store)"
        )

    folder = Path(tempfile.mkdtemp(prefix="warden-scheduler-load-"))
    try:
        if args.store_url:
            with store_counts.scratch_postgres(args.store_url, args.keep) as url:
                result = run(args, folder, url)
        else:
            result = run(args, folder, f"sqlite:///{folder / 'store' / 'warden.db'}")
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print_table(result)
    if args.json:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

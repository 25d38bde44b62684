"""The workload: seeded Parquet datasets and a config of N monitors at a 1-minute cadence."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: The monitors' cadence (`schedule: {every: 1m}`), and so the spacing of measured ticks.
TICK = timedelta(minutes=1)
#: Share of monitors of each kind (the rest are drift monitors).
KIND_SHARES = {"quality": 0.1, "freshness": 0.1}
#: Every DRIFT_EVERY-th dataset drifts in its last DRIFT_HOURS hours.
DRIFT_EVERY, DRIFT_HOURS = 5, 3


def write_datasets(
    folder: Path, count: int, rows: int, now: datetime, end: datetime, seed: int
) -> list[tuple[str, Path, bool]]:
    """`count` Parquet files of `rows` rows over [now - 2d, end); returns (name, path, drifted)."""
    folder.mkdir(parents=True)
    start = now - timedelta(days=2)
    span_us = int((end - start).total_seconds() * 1e6)
    drift_from_us = int((now - timedelta(hours=DRIFT_HOURS) - start).total_seconds() * 1e6)
    start_us = int(start.timestamp() * 1e6)
    rng = np.random.default_rng(seed)
    datasets = []
    for index in range(count):
        offsets = np.sort(rng.integers(0, span_us, rows))
        drifted = index % DRIFT_EVERY == 0
        recent = (offsets >= drift_from_us) & drifted
        amount = rng.lognormal(3, 0.5, rows) * np.where(recent, 1.8, 1.0)
        score = rng.normal(0, 1, rows) + np.where(recent, 1.0, 0.0)
        country_shares = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
        country = rng.choice(5, rows, p=country_shares)
        country = np.where(recent, rng.choice(5, rows), country)
        table = pa.table(
            {
                "timestamp": pa.array(start_us + offsets, pa.timestamp("us", tz="UTC")),
                "amount": amount,
                "score": score,
                "latency_ms": rng.gamma(2.0, 20.0, rows),
                "country": np.array(["fr", "de", "es", "it", "nl"])[country],
                "channel": np.array(["web", "app", "store"])[rng.choice(3, rows)],
            }
        )
        path = folder / f"ds{index:02d}.parquet"
        pq.write_table(table, path)
        datasets.append((f"ds{index:02d}", path, drifted))
    return datasets


def monitor_kinds(monitors: int, seed: int) -> list[str]:
    """The kind of each monitor: mostly drift, in a seeded order."""
    kinds = []
    for kind, share in KIND_SHARES.items():
        kinds += [kind] * round(monitors * share)
    kinds += ["drift"] * (monitors - len(kinds))
    order = np.random.default_rng(seed + 1).permutation(monitors)
    return [kinds[position] for position in order]


def monitor_names(kinds: list[str]) -> list[str]:
    """The monitors' names, as `write_config` writes them: `m0042-drift`."""
    return [f"m{index:04d}-{kind}" for index, kind in enumerate(kinds)]


def write_config(
    path: Path,
    store_url: str,
    datasets: list[tuple[str, Path, bool]],
    kinds: list[str],
    now: datetime,
    spread_ticks: str | None = None,
) -> None:
    """Datasets by absolute path; drift and quality monitors compare the last hour with a
    fixed reference day (its profile is cached after the first scan); `spread_ticks` sets
    `daemon.spread_ticks` (default: not set, every tick on the minute)."""
    reference = f"{{start: '{(now - timedelta(days=2)).isoformat()}', "
    reference += f"end: '{(now - timedelta(days=1)).isoformat()}'}}"
    lines = [f"store: {{url: '{store_url}'}}"]
    if spread_ticks:
        lines.append(f"daemon: {{spread_ticks: {spread_ticks}}}")
    lines.append("datasets:")
    lines += [
        f"  {name}: {{format: parquet, path: '{file}', time_column: timestamp}}"
        for name, file, _ in datasets
    ]
    lines.append("monitors:")
    for index, (name, kind) in enumerate(zip(monitor_names(kinds), kinds, strict=True)):
        dataset = datasets[index % len(datasets)][0]
        head = f"  - {{name: {name}, kind: {kind}, dataset: {dataset}, schedule: {{every: 1m}}, "
        if kind == "freshness":
            lines.append(
                head + "max_lag: 10m, expected_every: 1h, lookback: 12h, volume_history: 0}"
            )
        else:
            lines.append(head + f"reference: {reference}, window: 1h}}")
    path.write_text("\n".join(lines) + "\n")

"""Value skew, computed in the engine: join each serving row to the offline row of the same
entity as of its event time, and count per feature the rows whose values differ.

Both tables must live in one engine (the same DuckDB connection, the same database, or the
Spark session). One query counts the mismatches of every feature; one more fetches a few
mismatching entity ids per feature as evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import ibis
from ibis.common.exceptions import UnsupportedOperationError
from ibis.expr.types import Table

from detectors.profile_queries import count_true, window_filter


@dataclass(frozen=True)
class FeatureMismatch:
    compared: int
    mismatches: int
    sample_entities: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.mismatches / self.compared if self.compared else 0.0


@dataclass(frozen=True)
class ValueSkewStats:
    """Serving rows in the window, how many found an offline row, and per-feature counts."""

    serving_rows: int
    joined_rows: int
    features: dict[str, FeatureMismatch] = field(default_factory=dict)

    @property
    def unmatched_rate(self) -> float:
        return 1 - self.joined_rows / self.serving_rows if self.serving_rows else 0.0


@dataclass(frozen=True)
class JoinSpec:
    """How the two tables line up: entity key and event-time column of each side."""

    entity: str
    serving_time: str
    offline_entity: str
    offline_time: str


def value_skew_stats(
    serving: Table,
    offline: Table,
    spec: JoinSpec,
    columns: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    absolute_tolerance: float,
    relative_tolerance: float,
    join_tolerance: timedelta | None,
    sample_size: int,
) -> ValueSkewStats:
    """Mismatch counts of `columns` between serving rows in [start, end) and offline rows."""
    window = window_filter(serving, spec.serving_time, start, end)
    right = offline.select(
        o__entity=offline[spec.offline_entity],
        o__time=offline[spec.offline_time],
        **{f"o__{name}": offline[name] for name in columns},
    )
    joined = _as_of_join(window, right, spec)
    matched = joined["o__time"].notnull()
    if join_tolerance is not None:
        matched = matched & (joined[spec.serving_time] - joined["o__time"] <= join_tolerance)
    joined = joined.filter(matched)

    differs = {
        name: _differs(joined, name, absolute_tolerance, relative_tolerance) for name in columns
    }
    metrics = {"__joined": joined.count()}
    for name, condition in differs.items():
        metrics[f"{name}__mismatch"] = count_true(condition)
    row = joined.aggregate(**metrics).execute().iloc[0]
    serving_rows = int(window.count().execute())
    samples = _samples(joined, spec.entity, differs, sample_size) if sample_size else {}
    joined_rows = int(row["__joined"])
    features = {
        name: FeatureMismatch(joined_rows, int(row[f"{name}__mismatch"]), samples.get(name, ()))
        for name in columns
    }
    return ValueSkewStats(serving_rows, joined_rows, features)


def _as_of_join(window: Table, right: Table, spec: JoinSpec) -> Table:
    """Each serving row with the newest offline row of its entity at or before its time.

    Engines with an as-of join (DuckDB's ASOF JOIN, PostgreSQL's LATERAL ... LIMIT 1 as Ibis
    writes it) use it. Spark SQL has none, so there the serving rows are joined to every
    earlier offline row of their entity and only the newest is kept (a rank per entity and
    serving time): more rows move through the join, all of it still inside the engine. Two
    offline rows of one entity at the same instant both match there; the native joins keep
    one of them.
    """
    native = window.asof_join(
        right,
        on=window[spec.serving_time] >= right["o__time"],
        predicates=[window[spec.entity] == right["o__entity"]],
    )
    try:
        native.get_backend().compile(native)
        return native
    except UnsupportedOperationError:
        pass
    candidates = window.join(
        right,
        [
            window[spec.entity] == right["o__entity"],
            window[spec.serving_time] >= right["o__time"],
        ],
    )
    newest = ibis.rank().over(
        group_by=[candidates[spec.entity], candidates[spec.serving_time]],
        order_by=ibis.desc(candidates["o__time"]),
    )
    ranked = candidates.mutate(o__rank=newest)
    return ranked.filter(ranked["o__rank"] == 0).drop("o__rank")


def _differs(
    joined: Table, name: str, absolute: float, relative: float
) -> ibis.expr.types.BooleanValue:
    """Serving and offline values differ: beyond tolerance for numbers, unequal otherwise,
    or exactly one of them missing."""
    served, stored = joined[name], joined[f"o__{name}"]
    one_missing = served.isnull() != stored.isnull()
    if served.type().is_numeric() and stored.type().is_numeric():
        gap = (served.cast("float64") - stored.cast("float64")).abs()
        beyond = gap > (absolute + relative * stored.cast("float64").abs())
    else:
        beyond = served.cast("string") != stored.cast("string")
    return one_missing | (served.notnull() & stored.notnull() & beyond)


def _samples(
    joined: Table, entity: str, differs: dict[str, ibis.expr.types.BooleanValue], size: int
) -> dict[str, tuple[str, ...]]:
    parts = [
        joined.filter(condition)
        .select(column_name=ibis.literal(name), entity=joined[entity].cast("string"))
        .distinct()
        .order_by("entity")
        .limit(size)
        for name, condition in differs.items()
    ]
    if not parts:
        return {}
    frame = (parts[0] if len(parts) == 1 else ibis.union(*parts)).execute()
    samples: dict[str, list[str]] = {}
    for column_name, entity_id in frame.itertuples(index=False):
        samples.setdefault(column_name, []).append(entity_id)
    return {name: tuple(sorted(ids)) for name, ids in samples.items()}

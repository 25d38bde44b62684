"""One evaluator per monitor kind: read the windows it needs, run its detector.

Each evaluator is a function (context) -> Evaluation registered under the monitor kind; a
contract test checks that every kind the config accepts has exactly one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.config.models import (
    DriftMonitor,
    FreshnessMonitor,
    MonitorConfig,
    QualityMonitor,
    SkewMonitor,
    WardenConfig,
)
from daemon.crash_points import pause_if_asked
from daemon.scan.datasets import open_dataset, open_together
from daemon.scan.open_sources import OpenSources
from daemon.scan.plan_archive import plan_archive
from daemon.scan.reference_cache import reference_profile
from daemon.scan.windows import Window, current_window, reference_window
from daemon.store.engine import Store
from daemon.store.json_safety import is_safe_text, sanitize_json
from daemon.store.metric_points import PointValue
from detectors.drift.detector import detect_drift
from detectors.drift.params import DriftParams
from detectors.freshness.detector import detect_freshness, timeline_bounds
from detectors.freshness.params import FreshnessParams
from detectors.profile import WindowProfile
from detectors.profiling import ProfileOptions
from detectors.quality.checks import detect_quality
from detectors.quality.params import QualityParams
from detectors.results import DetectorResult
from detectors.skew.detector import detect_skew
from detectors.skew.params import SkewParams
from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError
from detectors.versions.base import DatasetVersion


@dataclass
class ScanContext:
    config: WardenConfig
    monitor: MonitorConfig
    at: datetime
    store: Store
    refresh_reference: bool = False
    excluded_files: tuple[str, ...] = ()
    #: The daemon's open file datasets, reused between its scans; None opens each afresh.
    sources: OpenSources | None = None
    #: The datasets this scan holds from `sources`, given back when it ends (`runner`).
    leases: ExitStack = field(default_factory=ExitStack)
    #: Every dataset this scan opened, by name: what its version is read from
    #: (`daemon.scan.versions`).
    opened: dict[str, DatasetSource] = field(default_factory=dict)


@dataclass
class Evaluation:
    result: DetectorResult
    windows: dict[str, Any] = field(default_factory=dict)
    reference_cached: bool | None = None
    #: The version of the monitor's dataset this scan read, when its evaluator knows it
    #: (assets: the window's files); else the scan reads it from the opened sources.
    dataset_version: DatasetVersion | None = None
    #: Why the version could not be read, when it could not (the verdict stands).
    version_error: str | None = None
    #: The current window's aggregates (`window_metrics`): what lineage events report.
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Metric points to keep (`daemon.store.metric_points`); when empty, the scan keeps
    #: those of `metrics` for the current window.
    points: list[PointValue] = field(default_factory=list)


Evaluator = Callable[[ScanContext], Evaluation]
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(kind: str) -> Callable[[Evaluator], Evaluator]:
    def register(function: Evaluator) -> Evaluator:
        if kind in EVALUATORS:
            raise ValueError(f"monitor kind {kind!r} has two evaluators")
        EVALUATORS[kind] = function
        return function

    return register


def _open(context: ScanContext, name: str) -> DatasetSource:
    dataset = context.config.datasets[name]
    if context.sources is not None:
        source = context.leases.enter_context(
            context.sources.lease(name, dataset, context.excluded_files, at=context.at)
        )
    else:
        source = open_dataset(
            name,
            dataset,
            excluded_files=context.excluded_files,
            archive=plan_archive(context.store),
            at=context.at,
        )
    context.opened.setdefault(name, source)
    if source.plan_archive is None:  # its queries compiled by earlier processes are reused
        source.plan_archive = plan_archive(context.store)
    pause_if_asked("scan.dataset_opened")  # tests: a writer changes the files mid-scan
    return source


def _columns(source: DatasetSource, requested: list[str] | None) -> list[str]:
    if requested is None:
        return source.default_columns()
    available = source.columns()
    missing = [name for name in requested if name not in available]
    if missing:
        raise SourceError(
            f"dataset {source.name!r} has no column(s) {', '.join(missing)}; "
            f"available: {', '.join(available)}"
        )
    return list(requested)


@dataclass
class ReferenceSide:
    """What a monitor compared with a reference has opened: its dataset, the reference's
    dataset (the same one unless the reference names another), both windows, the checked
    columns and the reference profile (and whether it came from the cache)."""

    source: DatasetSource
    reference_source: DatasetSource
    reference: Window
    current: Window
    columns: list[str]
    options: ProfileOptions
    profile: WindowProfile
    cached: bool


def open_reference(
    context: ScanContext, monitor: DriftMonitor | QualityMonitor | Any
) -> ReferenceSide:
    """Open `monitor`'s dataset and reference, and profile (or read the cached profile of)
    the reference over its columns."""
    source = _open(context, monitor.dataset)
    reference = reference_window(monitor.dataset, monitor.reference, context.at)
    current = current_window(monitor.dataset, context.at, monitor.window)
    reference_source = (
        source if reference.dataset == monitor.dataset else _open(context, reference.dataset)
    )
    columns = _columns(source, monitor.columns)
    if reference_source is not source:
        _columns(reference_source, monitor.columns)
    options = ProfileOptions()
    profile, cached = reference_profile(
        context.store,
        reference_source,
        reference,
        columns,
        options,
        refresh=context.refresh_reference,
    )
    return ReferenceSide(
        source, reference_source, reference, current, columns, options, profile, cached
    )


def _compare_windows(
    context: ScanContext, monitor: DriftMonitor | QualityMonitor
) -> tuple[DatasetSource, Any, Any, Window, Window, bool]:
    side = open_reference(context, monitor)
    current_profile = side.source.profile(
        side.current.start,
        side.current.end,
        side.columns,
        reference=side.profile,
        options=side.options,
    )
    return (
        side.source,
        as_stored(side.profile),
        as_stored(current_profile),
        side.reference,
        side.current,
        side.cached,
    )


def window_metrics(profile: WindowProfile) -> dict[str, Any]:
    """A window's row count and, per column, its non-null and null counts, minimum,
    maximum, mean and distinct count (where the profile has them)."""
    columns = {}
    for name, column in profile.columns.items():
        values = {
            "count": column.count,
            "nulls": column.nulls,
            "min": column.minimum,
            "max": column.maximum,
            "mean": column.mean,
            "distinct": column.distinct,
        }
        columns[name] = {key: value for key, value in values.items() if value is not None}
    return {"rows": profile.rows, "columns": columns}


def as_stored(profile: WindowProfile) -> WindowProfile:
    """`profile` with its text sanitised as the store sanitises a cached reference profile
    (`daemon.store.json_safety.sanitize_json`: NUL becomes the text ``\\u0000``), so that a
    category holding a control character is the same category in a cached reference and in
    a window just profiled. The profile itself when it holds no such text (almost always)."""
    if is_safe_text("\n".join(_texts(profile))):
        return profile
    data = profile.to_dict()
    clean = sanitize_json(data)
    return profile if clean is data else WindowProfile.from_dict(clean)


def _texts(profile: WindowProfile) -> Iterator[str]:
    """Every text a profile holds (names, types, category values)."""
    yield profile.dataset
    yield from profile.schema
    yield from profile.schema.values()
    for name, column in profile.columns.items():
        yield from (name, column.name, column.kind, column.dtype)
        if column.categories:
            yield from column.categories


@evaluator("drift")
def evaluate_drift(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, DriftMonitor)
    _source, ref, cur, ref_window, cur_window, cached = _compare_windows(context, monitor)
    params = DriftParams.model_validate(monitor.model_dump(include=set(DriftParams.model_fields)))
    roles = context.config.datasets[monitor.dataset].roles.model_dump(exclude_none=True)
    result = detect_drift(ref, cur, params, roles=roles)
    return Evaluation(
        result,
        {"reference": ref_window.to_dict(), "current": cur_window.to_dict()},
        cached,
        metrics=window_metrics(cur),
    )


@evaluator("quality")
def evaluate_quality(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, QualityMonitor)
    source, ref, cur, ref_window, cur_window, cached = _compare_windows(context, monitor)
    params = QualityParams.model_validate(
        monitor.model_dump(include=set(QualityParams.model_fields))
    )
    unreadable = [(item.path, item.reason) for item in source.unreadable]
    result = detect_quality(
        ref, cur, params, unreadable=unreadable, file_schemas=source.file_schemas
    )
    return Evaluation(
        result,
        {"reference": ref_window.to_dict(), "current": cur_window.to_dict()},
        cached,
        metrics=window_metrics(cur),
    )


@evaluator("freshness")
def evaluate_freshness(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, FreshnessMonitor)
    source = _open(context, monitor.dataset)
    params = FreshnessParams.model_validate(
        monitor.model_dump(include=set(FreshnessParams.model_fields))
    )
    bounds = timeline_bounds(context.at, params)
    if bounds is None:
        # No cadence configured: only the lag matters, read with a one-bucket timeline.
        step = params.max_lag
        bounds = (context.at - step, context.at, step)
    start, end, step = bounds
    # Buckets stop at the last complete one; the lag is measured up to the scan time.
    timeline = source.timeline(start, end, step, bounds_before=context.at)
    result = detect_freshness(timeline, context.at, params)
    window = Window(monitor.dataset, start, end)
    return Evaluation(result, {"timeline": window.to_dict()})


@evaluator("skew")
def evaluate_skew(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, SkewMonitor)
    datasets = context.config.datasets
    serving, offline, same_engine = open_together(
        (monitor.dataset, datasets[monitor.dataset]),
        (monitor.offline, datasets[monitor.offline]),
        excluded_files=context.excluded_files,
        at=context.at,
    )
    context.opened.setdefault(monitor.dataset, serving)
    context.opened.setdefault(monitor.offline, offline)
    window = current_window(monitor.dataset, context.at, monitor.window)
    if monitor.columns is None:
        offline_columns = set(offline.default_columns())
        columns = [name for name in serving.default_columns() if name in offline_columns]
    else:
        columns = _columns(serving, monitor.columns)
        _columns(offline, monitor.columns)
    params = SkewParams.model_validate(monitor.model_dump(include=set(SkewParams.model_fields)))
    offline_profile = offline.profile(window.start, window.end, columns)
    serving_profile = serving.profile(window.start, window.end, columns, reference=offline_profile)
    values = None
    if same_engine and serving.entity_column and offline.entity_column:
        assert window.start is not None and window.end is not None
        # Imported here: it builds an Ibis join, which no other monitor kind needs.
        from detectors.skew.values import JoinSpec, value_skew_stats

        values = value_skew_stats(
            serving.table,
            offline.table,
            JoinSpec(
                serving.entity_column,
                serving.time_column,
                offline.entity_column,
                offline.time_column,
            ),
            columns,
            start=window.start,
            end=window.end,
            absolute_tolerance=params.absolute_tolerance,
            relative_tolerance=params.relative_tolerance,
            join_tolerance=params.join_tolerance,
            sample_size=params.sample_size,
        )
    result = detect_skew(offline_profile, serving_profile, values, params)
    if values is None and not (serving.entity_column and offline.entity_column):
        result.summary["value_skew"] = "not computed: set entity_column on both datasets"
    return Evaluation(
        result,
        {"serving": window.to_dict(), "offline": {**window.to_dict(), "dataset": monitor.offline}},
    )


# The assets, multivariate and metric-history evaluators live in their own modules;
# importing them here registers them with the others (they import this module's registry,
# so they come last).
from daemon.scan import (  # noqa: E402, F401
    asset_evaluator,
    metric_evaluator,
    multivariate_evaluator,
)

"""The shape of a Warden config file (YAML), validated by pydantic.

Detector parameters are the detectors' own models (`DriftParams`, `QualityParams`,
`FreshnessParams`) mixed into each monitor kind, so a parameter is declared once and the
config rejects anything the detector would not accept. `config/warden.schema.json` is
generated from `WardenConfig` (`warden schema`); a test keeps it in sync.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.config.agent import AgentConfig
from daemon.config.base import (  # noqa: F401 - unknown_keys_message is re-exported
    ConfigModel,
    unknown_keys_message,
)
from daemon.config.lineage import LineageConfig
from daemon.config.names import NAMES_CHECKED_BY_CALLER, name_problems
from daemon.config.oncall import EscalationPolicy, PagerDutyConfig, escalation_problems
from daemon.config.people import PersonConfig, PersonName, people_problems
from daemon.config.routing import (
    IncidentsConfig,
    MaintenanceWindow,
    PlaybooksConfig,
    RouteConfig,
)
from daemon.config.runtime import DaemonConfig
from detectors.assets.params import AssetParams
from detectors.drift.params import DriftParams
from detectors.freshness.params import FreshnessParams
from detectors.metric_history.params import MetricAnomalyParams
from detectors.multivariate.params import MultivariateParams
from detectors.params import Duration, EndInstant, Instant
from detectors.quality.params import QualityParams
from detectors.skew.params import SkewParams
from detectors.timeformat import ENGINE_OF_FORMAT, format_problem
from detectors.timeparse import format_duration

#: The time of a file of an asset dataset, as monitors and incidents name it.
ASSET_TIME = "asset_time"


class StoreConfig(ConfigModel):
    url: str = Field(
        "sqlite:///warden.db",
        description="SQLAlchemy URL of the store: sqlite:///path.db (default) or postgresql://user@host/db.",
    )


class DatasetRoles(ConfigModel):
    label: str | None = Field(
        None, description="Column holding the ground-truth label (drifts as label_drift)."
    )
    prediction: str | None = Field(
        None, description="Column holding the model output (drifts as prediction_drift)."
    )


class IcebergCatalog(ConfigModel):
    """The SQL catalog holding an Iceberg table (pyiceberg's `iceberg_tables`)."""

    uri: str = Field(
        description="SQLAlchemy URL of the catalog's database: sqlite:///catalog.db "
        "(relative to the config file) or postgresql://user@host/db."
    )
    name: str = Field(
        "default",
        min_length=1,
        description="The catalog's name: part of every table's key in the catalog, so it "
        "must be the name the writers used.",
    )


class DatasetConfig(ConfigModel):
    """Where a dataset lives: files (`path`), a SQL table (`url` + `table`), Spark (a
    catalog `table` or Parquet files at `path`, on the master at `url`), a Delta Lake table
    (`path`) or an Iceberg table (`catalog` + `table`)."""

    format: Literal[
        "parquet", "csv", "postgres", "duckdb", "spark", "files", "delta", "iceberg"
    ] = Field(
        description="parquet | csv | postgres | duckdb | spark | files (binary assets: "
        "images, audio, any file; watched by `kind: assets` monitors) | delta (a Delta Lake "
        "table's folder) | iceberg (a table in a SQL catalog)"
    )
    path: str | None = Field(
        None,
        description="File, glob or (hive-partitioned) folder, for parquet and csv; "
        "for spark, Parquet files at any path or URI Spark reads (s3a://, hdfs://...).",
    )
    url: str | None = Field(
        None,
        description="Database URL, for postgres and duckdb tables; for spark, the master "
        "(default local[*]; spark://host:7077 for a cluster).",
    )
    table: str | None = Field(
        None,
        description="Table name (optionally schema.table), for postgres and duckdb; for "
        "spark, a table in the Spark catalog (optionally database.table).",
    )
    catalog: IcebergCatalog | None = Field(
        None, description="For iceberg: the SQL catalog holding `table` (namespace.name)."
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings for the session, for spark (spark.driver.memory: 2g...).",
    )
    time_column: str = Field(
        description="Event-time column; windows are cut on it. Not given for files datasets, "
        f"whose files' times come from `time_from` (the column is then {ASSET_TIME!r})."
    )
    time_from: Literal["path", "mtime", "manifest"] | None = Field(
        None,
        description="For files datasets: where a file's time comes from: `path` (a hive "
        "folder such as date=2025-01-01/, else the modification time), `mtime` (default) or "
        "`manifest` (its `time` column, else the modification time).",
    )
    manifest: str | None = Field(
        None,
        description="For files datasets: a CSV or Parquet table listing the files, with "
        "`path` (relative to the dataset's folder) and optionally `label`, `split` "
        "(train/eval: pairs of copies across splits are split_leakage) and `time`. Files "
        "it does not list are unlisted_asset, rows whose file is missing missing_asset.",
    )
    time_format: str | None = Field(
        None,
        description='How a text time column is written, in strptime style ("%m/%d/%Y '
        "%H:%M:%S\"; %z reads an offset, else times hold UTC), parsed in the engine (a CSV's "
        "time column is always text). Without it, text times must be ISO 8601 (files, "
        "Spark); a PostgreSQL or DuckDB table's text time column needs it.",
    )
    entity_column: str | None = Field(
        None, description="Entity key (for value skew and sample ids)."
    )
    roles: DatasetRoles = Field(default_factory=DatasetRoles)

    @property
    def is_file(self) -> bool:
        return self.format in ("parquet", "csv")

    @property
    def is_versioned_table(self) -> bool:
        """A Delta or Iceberg table: it has versions of its own, and time travel."""
        return self.format in ("delta", "iceberg")

    @property
    def is_assets(self) -> bool:
        return self.format == "files"

    @model_validator(mode="before")
    @classmethod
    def _asset_time(cls, data: Any) -> Any:
        """A files dataset has no time column: its files' times stand in, as ASSET_TIME."""
        if isinstance(data, dict) and data.get("format") == "files":
            if "time_column" in data:
                raise ValueError(
                    "a files dataset has no `time_column`; say where its files' times come "
                    "from with `time_from: path`, `mtime` or `manifest`"
                )
            return {**data, "time_column": ASSET_TIME}
        return data

    @field_validator("time_format")
    @classmethod
    def _time_format(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A format the dataset's engine can parse, checked when the config loads."""
        engine = ENGINE_OF_FORMAT.get(info.data.get("format", ""))
        problem = None if value is None or engine is None else format_problem(value, engine)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _location(self) -> DatasetConfig:
        if self.time_from is not None and self.format != "files":
            raise ValueError("`time_from` is for files datasets; tables have a `time_column`")
        if self.manifest is not None and self.format != "files":
            raise ValueError("`manifest` is for files datasets (a table listing the files)")
        if self.format == "files":
            if not self.path:
                raise ValueError("a files dataset needs `path` (a folder or a glob)")
            if self.url or self.table or self.time_format or self.spark_conf:
                raise ValueError(
                    "a files dataset takes `path`, `time_from` and `manifest`, nothing else"
                )
            if self.time_from == "manifest" and not self.manifest:
                raise ValueError("`time_from: manifest` needs `manifest` (the table of files)")
            return self
        if self.spark_conf and self.format != "spark":
            raise ValueError("`spark_conf` is for spark datasets only")
        if self.catalog is not None and self.format != "iceberg":
            raise ValueError("`catalog` is for iceberg datasets only")
        if self.format == "delta":
            if not self.path or self.url or self.table:
                raise ValueError("a delta dataset takes `path` (the table's folder) only")
            return self
        if self.format == "iceberg":
            if self.catalog is None or not self.table:
                raise ValueError(
                    "an iceberg dataset needs `catalog: {uri: ...}` and `table` (namespace.name)"
                )
            if self.path or self.url:
                raise ValueError("an iceberg dataset takes `catalog` and `table`, not `path`/`url`")
            return self
        if self.format == "spark":
            if (self.table is None) == (self.path is None):
                raise ValueError(
                    "a spark dataset needs one of `table` (in the Spark catalog) or `path` "
                    "(Parquet files)"
                )
        elif self.is_file:
            if not self.path:
                raise ValueError(f"a {self.format} dataset needs `path` (a file, glob or folder)")
            if self.url or self.table:
                raise ValueError(f"a {self.format} dataset takes `path`, not `url`/`table`")
        else:
            if not (self.url and self.table):
                raise ValueError(
                    f"a {self.format} dataset needs `url` and `table` instead of `path`"
                )
            if self.path:
                raise ValueError(f"a {self.format} dataset takes `url` and `table`, not `path`")
        return self


class ScheduleConfig(ConfigModel):
    """Exactly one of `every` (an interval) or `cron` (five crontab fields, UTC)."""

    every: Duration | None = Field(None, description="Interval between scans, like 15m.")
    cron: str | None = Field(None, description='Crontab expression in UTC, like "0 * * * *".')

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError('give exactly one of `every` (like 15m) or `cron` (like "0 * * * *")')
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger  # local: only needed to validate

            try:
                CronTrigger.from_crontab(self.cron, timezone="UTC")
            except ValueError as error:
                raise ValueError(
                    f"cron {self.cron!r} is not a valid crontab expression: {error}"
                ) from None
        return self


class FixedReference(ConfigModel):
    """A fixed time range of the same dataset, [start, end]; a date `end` includes that day."""

    start: Instant
    end: EndInstant

    @model_validator(mode="after")
    def _ordered(self) -> FixedReference:
        if self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class RollingReference(ConfigModel):
    """The window of length `window` that ended `offset` before the scan time
    (`{offset: 7d, window: 1d}` is the same day last week, for weekly seasonality)."""

    offset: Duration
    window: Duration


class DatasetReference(ConfigModel):
    """Another dataset (for example a training snapshot), optionally limited to [start, end]."""

    dataset: str
    start: Instant | None = None
    end: EndInstant | None = None


def _reference_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "dataset" in value:
            return "dataset"
        if "offset" in value or "window" in value:
            return "rolling"
        return "fixed"
    if isinstance(value, DatasetReference):
        return "dataset"
    if isinstance(value, RollingReference):
        return "rolling"
    if isinstance(value, FixedReference):
        return "fixed"
    return None


ReferenceConfig = Annotated[
    Annotated[FixedReference, Tag("fixed")]
    | Annotated[RollingReference, Tag("rolling")]
    | Annotated[DatasetReference, Tag("dataset")],
    Discriminator(
        _reference_kind,
        custom_error_type="reference",
        custom_error_message="a reference is {start, end}, {offset, window} or {dataset}",
    ),
]

Severity = Literal["info", "warning", "critical"]


class MonitorBase(ConfigModel):
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Unique monitor name.",
    )
    dataset: str = Field(description="Name of a dataset under `datasets`.")
    schedule: ScheduleConfig = Field(
        default_factory=lambda: ScheduleConfig(every=timedelta(hours=1)),
        description="When the daemon runs this monitor (default every 1h).",
    )
    severity: Severity = Field(
        "warning", description="Severity of the incidents this monitor opens."
    )


class WindowedMonitor(MonitorBase):
    reference: ReferenceConfig = Field(description="What the current window is compared with.")
    window: Duration = Field(description="Length of the current window, ending at the scan time.")
    columns: list[str] | None = Field(
        None, description="Columns to check (default: all but time/entity)."
    )


class DriftMonitor(WindowedMonitor, DriftParams):
    kind: Literal["drift"]


class QualityMonitor(WindowedMonitor, QualityParams):
    kind: Literal["quality"]


class FreshnessMonitor(MonitorBase, FreshnessParams):
    kind: Literal["freshness"]


class SkewMonitor(MonitorBase, SkewParams):
    """Training-serving skew: `dataset` is the serving log, `offline` the offline features."""

    kind: Literal["skew"]
    offline: str = Field(description="Dataset holding the offline (training) feature values.")
    window: Duration = Field(
        description="Window of serving rows compared, ending at the scan time."
    )
    columns: list[str] | None = Field(
        None, description="Features to compare (default: every feature present on both sides)."
    )


class AssetsMonitor(MonitorBase, AssetParams):
    """Integrity, duplicates and near copies of a files dataset's files whose time falls
    in the window (`detectors.assets`)."""

    kind: Literal["assets"]
    window: Duration = Field(
        description="The files whose time falls in this window, ending at the scan time, "
        "are reported on (every file is checked once, when it is new or changed)."
    )
    reference: ReferenceConfig | None = Field(
        None, description="Files the window's properties are compared with (property drift)."
    )
    drift: DriftParams = Field(
        default_factory=DriftParams,
        description="How property drift is tested (the drift monitors' methods, thresholds "
        "and multiple-testing correction), when a reference is given.",
    )


class MultivariateDriftMonitor(WindowedMonitor, MultivariateParams):
    """Changes in the relations between columns (`detectors.multivariate`)."""

    kind: Literal["multivariate_drift"]
    columns: list[str] = Field(  # type: ignore[assignment]
        min_length=2,
        description="Numeric and low-cardinality categorical columns whose joint "
        "distribution is watched (at least two).",
    )

    @model_validator(mode="after")
    def _fixed_reference(self) -> MultivariateDriftMonitor:
        if isinstance(self.reference, RollingReference):
            raise ValueError(
                "a multivariate_drift reference is a fixed range {start, end} or a "
                "{dataset}: a rolling one would refit the model at every scan"
            )
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("`columns` names a column twice")
        return self


class MetricAnomalyMonitor(MonitorBase, MetricAnomalyParams):
    """Each window metric against its own seasonal history (`detectors.metric_history`)."""

    kind: Literal["metric_anomaly"]
    window: Duration = Field(
        description="Length of each measured window, ending at the scan time (a point of "
        "every series per window)."
    )
    columns: list[str] | None = Field(
        None, description="Columns measured (default: all but time/entity)."
    )

    @model_validator(mode="after")
    def _window_fits_training(self) -> MetricAnomalyMonitor:
        if self.window * self.min_season_points > self.training:
            raise ValueError(
                f"training {format_duration(self.training)} holds fewer than "
                f"{self.min_season_points} windows of {format_duration(self.window)}"
            )
        if self.seasonality in ("hour_of_day", "hour_of_week") and self.window > timedelta(hours=1):
            raise ValueError(
                f"seasonality {self.seasonality} compares hours: use a window of at most 1h"
            )
        if self.seasonality == "day_of_week" and self.window > timedelta(days=1):
            raise ValueError("seasonality day_of_week compares days: use a window of at most 1d")
        return self


MONITOR_KINDS = (
    "drift",
    "quality",
    "freshness",
    "skew",
    "assets",
    "multivariate_drift",
    "metric_anomaly",
)

MonitorConfig = Annotated[
    DriftMonitor
    | QualityMonitor
    | FreshnessMonitor
    | SkewMonitor
    | AssetsMonitor
    | MultivariateDriftMonitor
    | MetricAnomalyMonitor,
    Field(discriminator="kind"),
]


class SlackConfig(ConfigModel):
    """Slack app credentials and approvers; secrets come from the environment or ${VAR}."""

    bot_token: SecretStr | None = Field(
        None, description="xoxb- bot token (from ${VAR} or WARDEN_SLACK__BOT_TOKEN)."
    )
    app_token: SecretStr | None = Field(
        None, description="xapp- app-level token, for Socket Mode (optional)."
    )
    signing_secret: SecretStr | None = Field(
        None, description="Signing secret, for the HTTP request URL mode."
    )
    channel: str | None = Field(
        None, description="Channel for incident messages, like #ml-oncall or C0123."
    )
    approvers: list[str] = Field(
        default_factory=list, description="Slack user ids allowed to approve."
    )
    approver_groups: list[str] = Field(
        default_factory=list, description="Slack user group ids allowed to approve."
    )
    api_url: str | None = Field(
        None, description="Base URL override of the Slack Web API (proxies, tests)."
    )

    @model_validator(mode="after")
    def _can_post(self) -> SlackConfig:
        if self.bot_token is None:
            raise ValueError(
                "Slack needs `bot_token` to post (write `bot_token: ${SLACK_BOT_TOKEN}`, or "
                "set WARDEN_SLACK__BOT_TOKEN); remove the `slack:` block to run without Slack"
            )
        return self


class LabelStudioConfig(ConfigModel):
    """Where `relabel_batch` creates labelling tasks. Without this block it only writes the
    Label Studio-importable JSONL file (import it by hand)."""

    url: str = Field(description="Base URL of Label Studio, like https://labels.example.com.")
    token: SecretStr = Field(
        description="A personal access token (Account & Settings; Label Studio 1.23 turns "
        "legacy tokens off by default) or a legacy API token, from ${VAR} or "
        "WARDEN_LABEL_STUDIO__TOKEN."
    )
    token_kind: Literal["auto", "personal", "legacy"] = Field(
        "auto",
        description="personal (exchanged for short-lived access tokens), legacy (sent as "
        "`Authorization: Token ...`), or auto: a JWT (eyJ...) is personal.",
    )
    project: int = Field(ge=1, description="Id of the project the tasks are imported into.")
    timeout: Duration = Field(
        default_factory=lambda: timedelta(seconds=30),
        description="How long one API request may take (default 30s).",
    )
    document_root: str = Field(
        "/",
        description="For tasks of asset files: the server's "
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT. A task names its file as "
        "/data/local-files/?d=<its path relative to this folder>; the project needs a "
        "Local Files storage over a folder that holds the files.",
    )

    @field_validator("document_root")
    @classmethod
    def _absolute_root(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("document_root must be an absolute path (as the server sees it)")
        return value


#: The endpoints `http.public_endpoints` may open: `docs` is /docs, /redoc and /openapi.json.
PublicEndpoint = Literal["healthz", "readyz", "metrics", "docs"]
DEFAULT_PUBLIC_ENDPOINTS: tuple[PublicEndpoint, ...] = ("healthz", "readyz", "metrics")


class HttpConfig(ConfigModel):
    """Warden's HTTP server (`warden run`): Slack's request URL, the approval API, health."""

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 for all).")
    port: int = Field(8080, ge=1, le=65535, description="TCP port to listen on.")
    api_token: SecretStr | None = Field(
        None,
        description="Shared bearer token of the HTTP API, from ${VAR} or "
        "WARDEN_HTTP__API_TOKEN; callers name themselves with `as`. Per-person tokens "
        "(`warden tokens create`) are safer. With either, the API, the reports and every "
        "endpoint not in `public_endpoints` need a token; with neither, the approval API "
        "answers 403 and the rest is open.",
    )
    public_url: str | None = Field(
        None,
        description="Base URL people reach this server at, like https://warden.example.com; "
        "Slack messages link each incident's report there.",
    )
    report_link_ttl: Duration = Field(
        default_factory=lambda: timedelta(days=7),
        description="How long the signed report link in a Slack message stays valid when "
        "the API needs a token (default 7d); a message updated later gets a fresh link.",
    )
    public_endpoints: list[PublicEndpoint] = Field(
        default_factory=lambda: list(DEFAULT_PUBLIC_ENDPOINTS),
        description="Endpoints served without a token even when the API needs one (default "
        "healthz, readyz, metrics; `docs` is /docs, /redoc and /openapi.json). The others "
        "need a bearer token then; with no token configured everything is open.",
    )


#: Config fields that hold secrets: they may only be written as ${VAR} or come from the environment.
SECRET_FIELDS = (
    ("slack", "bot_token"),
    ("slack", "app_token"),
    ("slack", "signing_secret"),
    ("label_studio", "token"),
    ("http", "api_token"),
    ("pagerduty", "routing_key"),
)


class WardenConfig(ConfigModel):
    """A whole Warden config file."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    monitors: list[MonitorConfig] = Field(default_factory=list)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    routes: list[RouteConfig] = Field(
        default_factory=list,
        description="Routes tried in order (first match wins) before the default routes.",
    )
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="Maintenance windows: detections recorded, not routed."
    )
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    slack: SlackConfig | None = None
    http: HttpConfig | None = None
    label_studio: LabelStudioConfig | None = None
    agent: AgentConfig | None = None
    lineage: LineageConfig = Field(
        default_factory=LineageConfig,
        description="Lineage: scans as OpenLineage run events (and job runs received).",
    )
    pagerduty: PagerDutyConfig | None = Field(
        None, description="PagerDuty Events API v2, for escalation steps that page."
    )
    escalations: list[EscalationPolicy] = Field(
        default_factory=list,
        description="Escalation policies tried in order (first match wins) when a group of "
        "incidents opens: what happens while nobody acknowledges.",
    )
    people: dict[PersonName, PersonConfig] = Field(
        default_factory=dict,
        description="Each person's names on Slack, the CLI and the API, so `two_person` "
        "counts them once (`daemon.config.people`).",
    )

    @model_validator(mode="after")
    def _one_owner_per_name(self) -> WardenConfig:
        problems = people_problems(self.people)
        if problems:
            raise ValueError("people: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _escalations_have_destinations(self) -> WardenConfig:
        problems = escalation_problems(
            self.escalations,
            has_pagerduty=self.pagerduty is not None,
            has_slack=self.slack is not None,
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> WardenConfig:
        """Names across sections (`daemon.config.names`), for a config built in code; the
        loader checks them on the file instead, to report each at its line."""
        if not (info.context or {}).get(NAMES_CHECKED_BY_CALLER):
            plain = self.model_dump(
                include={"datasets", "monitors", "routes", "maintenance", "escalations"}
            )
            problems = name_problems(plain)
            if problems:
                raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems))
        return self

    def monitor(self, name: str) -> MonitorConfig:
        for monitor in self.monitors:
            if monitor.name == name:
                return monitor
        raise KeyError(name)

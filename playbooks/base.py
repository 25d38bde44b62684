"""The playbook contract: typed params, a pure plan with a hash, idempotent steps.

A playbook is a registered unit (see `registry.py`) with

- `Params`: a pydantic model (`extra="forbid"`), checked when a route or a proposal names
  the playbook, so a bad parameter is a config error, not a failed run;
- `plan(incident, params, context)`: pure and deterministic. It reads the current state
  (which files hold the affected window, their sizes and checksums) and returns a `Plan`
  that a person can read. Its canonical JSON's sha256 is what an approval binds to, so any
  change in what would be done (a new partition appeared, a file changed) changes the hash
  and needs a new approval;
- `apply(plan, context)`: carries the plan out step by step. Each step checks the current
  state before acting, so a rerun after a crash finishes the job without doing anything
  twice;
- `verify(plan, context)`: checks that the applied plan did what it should. `None` (the
  default) means "evaluate the incident's monitor again": the problem must be gone. A
  playbook whose effect the monitor cannot see (a label batch, a synthetic partition kept
  out of the monitored data) checks its own output instead;
- `rollback(plan, context)`: undoes what `apply` did, where that is possible.

`resolves_incident` says whether a verified run resolves the incident (quarantine) or hands
it back to a person with the output (a label batch waits for labels).

Playbooks import nothing from the daemon: what they know of an incident is an
`IncidentView`, and where they may write is in the `PlaybookContext`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from detectors.sources.base import DatasetSource

#: Bumped when the shape of a plan changes; stored in every plan (and so in its hash).
PLAN_SCHEMA_VERSION = 1


class PlaybookParams(BaseModel):
    """Base of every playbook's params: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class IncidentView:
    """What a playbook knows of an incident: enough to find the affected data.

    `windows` maps a name (`current`, `reference`...) to `{"dataset", "start", "end"}` with
    ISO 8601 times; `scope` is the incident's scope (`{"path": ...}` for a file-level
    problem, `{"partition": ...}` for a missing one, empty for a window-level one).
    `findings` are the evidence's findings (`pattern`, `column`, `details`...).
    """

    id: int
    dataset: str
    pattern: str
    scope: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The alerting findings' details (bucket sizes, row counts...), as stored in evidence.
    findings: tuple[dict[str, Any], ...] = ()
    #: The id of the dataset version its latest detection read (`detectors.versions`).
    dataset_version: str | None = None


@dataclass(frozen=True)
class DatasetLocation:
    """Where a dataset lives and what its columns mean, as the config says (`path` is empty
    for tables)."""

    name: str
    format: str
    path: str
    time_column: str
    entity_column: str | None = None
    label_column: str | None = None
    prediction_column: str | None = None
    #: For tables: the database URL (may hold a password: never put it in a plan) and table.
    url: str = field(default="", repr=False)
    table: str = ""
    #: How a text time column is written (the dataset's `time_format`), for the places that
    #: write SQL over the table themselves (`detectors.timeformat.parse_sql`).
    time_format: str | None = None
    #: For Iceberg tables: the catalog's name (its URL is `url`, its table `table`).
    catalog_name: str = ""


@dataclass(frozen=True)
class LabelStudioTarget:
    """A Label Studio project that label batches are imported into."""

    url: str
    token: str = field(repr=False)
    project: int
    timeout_seconds: float = 30.0
    #: `auto` (a JWT is a personal access token, anything else a legacy token),
    #: `personal` or `legacy` (`playbooks.label_studio_api`).
    token_kind: str = "auto"


@dataclass(frozen=True)
class PlaybookContext:
    """Where a playbook reads and writes.

    `work_root` is Warden's own area (quarantine, label batches, synthetic partitions),
    outside every dataset's folder. `open_source` opens the dataset for reading (an Ibis
    table; the same reader the detectors use, so a quarantined file is left out).
    `open_source` must be picklable: a run is applied in a child process.
    """

    dataset: DatasetLocation
    work_root: Path
    open_source: Callable[[], DatasetSource] | None = None
    label_studio: LabelStudioTarget | None = None
    #: The folder Label Studio serves local files from: a task of an asset file names it
    #: relative to this (`/data/local-files/?d=...`).
    files_root: str = "/"
    #: Told each step as `apply` completes it (the runner reports steps while a run goes
    #: on); set where the plan is applied, never pickled.
    on_step: Callable[[dict[str, Any]], None] | None = None

    def report(self, step: dict[str, Any]) -> dict[str, Any]:
        """Tell `on_step` that `step` (an entry of the step log) is done; returns it."""
        if self.on_step is not None:
            self.on_step(step)
        return step

    @contextmanager
    def source(self) -> Iterator[DatasetSource]:
        """The dataset opened for reading, closed after use: a DuckDB file stays locked
        while a connection to it is open, and the quarantine of a table writes to it."""
        if self.open_source is None:
            raise PlanRefused(f"dataset {self.dataset.name!r} cannot be read here")
        opened = self.open_source()
        try:
            yield opened
        finally:
            backend = opened.table.get_backend()
            # Spark's session is shared by the whole process: it stays up.
            if backend.name in ("duckdb", "postgres"):
                with suppress(Exception):  # closing is best effort; the read is done
                    backend.disconnect()


@dataclass(frozen=True)
class Verification:
    """What a playbook's own check found: `ok`, and a sentence saying why."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class PlanStep:
    """One action of a plan: `action` says what, `target` on what, `details` the facts a
    person checks before approving (sizes, checksums, destinations)."""

    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A human-readable, hashable description of what applying a playbook would do."""

    playbook: str
    incident_id: int
    params: dict[str, Any]
    summary: str
    steps: tuple[PlanStep, ...]
    schema_version: int = PLAN_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        steps = tuple(PlanStep(**step) for step in data["steps"])
        return cls(**{**data, "steps": steps})

    def canonical_json(self) -> str:
        """Sorted keys, no spaces, ASCII: the same plan always gives the same text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON: what an approval binds to."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()


class PlanRefused(ValueError):
    """The playbook cannot make a plan for this incident; the message says why."""


class Playbook(ABC):
    """A remediation unit. Subclasses set `name` and `Params` and implement the methods."""

    name: ClassVar[str]
    Params: ClassVar[type[PlaybookParams]]
    #: Small valid and invalid params, for the contract test that runs every playbook.
    example_params: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    invalid_params: ClassVar[tuple[dict[str, Any], ...]] = ({"no_such_param": 1},)
    #: Whether a verified run resolves the incident; False hands it back to a person.
    resolves_incident: ClassVar[bool] = True

    def parse_params(self, raw: dict[str, Any]) -> PlaybookParams:
        return self.Params.model_validate(raw)

    @abstractmethod
    def plan(
        self, incident: IncidentView, params: PlaybookParams, context: PlaybookContext
    ) -> Plan:
        """What applying would do, from the current state; pure and deterministic."""

    @abstractmethod
    def apply(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        """Carry out `plan`; idempotent. Returns the step log (one entry per step)."""

    def verify(self, plan: Plan, context: PlaybookContext) -> Verification | None:
        """Check the applied plan's own output; None: evaluate the incident's monitor again."""
        return None

    @abstractmethod
    def rollback(self, plan: Plan, context: PlaybookContext) -> list[dict[str, Any]]:
        """Undo what `apply` did for `plan`, where possible; idempotent."""

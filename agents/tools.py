"""The agent's context tools: read-only, each answering a `ToolResult` with a status and a
useful error instead of raising (a missing dataset profile must not stop a proposal).

The daemon implements `ContextTools` over its store (`daemon.agent.context`); the catalogue
is the agent's own, from the playbook registry and the allowlist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from agents.policy import AgentPolicy
from playbooks.registry import get_playbook


@dataclass(frozen=True)
class ToolResult:
    status: Literal["ok", "not_found", "error"]
    data: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ContextTools(Protocol):
    """Read-only views of the store and the data, for one incident."""

    def incident(self, incident_id: int) -> ToolResult:
        """The incident: pattern, monitor, dataset, severity, scope and evidence, and
        downstream: the dataset version its detection read and the job runs (model
        trainings...) that read a version holding its bad data."""
        ...

    def dataset_schema(self, incident_id: int) -> ToolResult:
        """The incident's dataset: its columns and types, and the current window's profile."""
        ...

    def past_incidents(self, incident_id: int) -> ToolResult:
        """Earlier incidents with the same fingerprint and how each ended (runs, outcome)."""
        ...


def catalogue(policy: AgentPolicy) -> list[dict[str, Any]]:
    """The allowed playbooks: name, what it does (its docstring's first paragraph), and its
    params' JSON Schema."""
    entries = []
    for name in policy.allowlist:
        playbook = get_playbook(name)
        doc = (type(playbook).__doc__ or "").strip().split("\n\n")[0]
        entries.append(
            {
                "name": name,
                "description": " ".join(doc.split()),
                "params_schema": playbook.Params.model_json_schema(),
            }
        )
    return entries

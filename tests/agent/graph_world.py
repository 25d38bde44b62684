"""A small world for the agent graph's tests: fixed incident context (as the daemon's
tools would read it) and proposals recorded to a JSON-lines file, so a second process can
resume the same thread from the same checkpoint file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents.checkpoints import open_checkpointer
from agents.graph import AgentSettings, StoreRefused, build_graph
from agents.model_client import ModelSettings
from agents.policy import AgentPolicy, ValidProposal
from agents.tools import ToolResult

INCIDENT: dict[str, Any] = {
    "id": 7,
    "pattern": "null_spike",
    "monitor": "quality",
    "dataset": "events",
    "scope": {},
    "evidence": {"findings": [{"pattern": "null_spike", "column": "x", "statistic": 0.5}]},
}


class StaticTools:
    def __init__(self, incident: dict[str, Any] | None = None) -> None:
        self.data = incident or INCIDENT

    def incident(self, incident_id: int) -> ToolResult:
        return ToolResult("ok", self.data)

    def dataset_schema(self, incident_id: int) -> ToolResult:
        return ToolResult("ok", {"columns": {"ts": "timestamp", "x": "double"}})

    def past_incidents(self, incident_id: int) -> ToolResult:
        return ToolResult("not_found", [], "no earlier incident with this fingerprint")


class FileProposals:
    """`store_proposal` that appends to a file; a playbook in `refuse` is refused."""

    def __init__(self, path: Path, refuse: tuple[str, ...] = ()) -> None:
        self.path, self.refuse = path, refuse

    def __call__(self, incident_id: int, proposal: ValidProposal) -> int:
        if proposal.playbook in self.refuse:
            raise StoreRefused(f"{proposal.playbook} cannot plan: nothing to do")
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"incident": incident_id, **proposal.__dict__}) + "\n")
        return len(self.stored())

    def stored(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


@contextmanager
def agent(
    base_url: str,
    folder: Path,
    *,
    tools: StaticTools | None = None,
    timeout: float = 10.0,
    policy: AgentPolicy | None = None,
    refuse: tuple[str, ...] = (),
    checkpoints: str | None = None,
) -> Iterator[tuple[Any, FileProposals]]:
    settings = AgentSettings(
        ModelSettings("test-model", "sk-test", base_url, timeout=timeout),
        policy or AgentPolicy(),
        max_revisions=2,
    )
    proposals = FileProposals(folder / "proposals.jsonl", refuse)
    with open_checkpointer(checkpoints or str(folder / "checkpoints.sqlite")) as saver:
        yield build_graph(tools or StaticTools(), settings, proposals, saver), proposals


if __name__ == "__main__":  # python -m tests.agent.graph_world BASE_URL FOLDER THREAD
    from agents.run import start

    with agent(sys.argv[1], Path(sys.argv[2])) as (graph, _):
        print(json.dumps(start(graph, 7, sys.argv[3]), default=str))

"""Evaluation cases: one folder per case, run offline (scripted answers) or live.

A case folder holds:
- `context.json`: what the tools answered for the incident (`incident`, `dataset`,
  `past_incidents`, each a `ToolResult` dict), recorded from a real incident;
- `expected.json`: `{"outcome": "proposed" | "escalated" | "invalid", "playbook": name or
  null}`: what a good agent does; an optional `offline` object says what the scripted run
  must end in when it differs (a scripted model that obeys an injection must be refused);
- `scripted.json`: the answers a scripted server gives offline (a list of proposal objects
  or raw strings), so the pipeline around the model is checked without a network.

Live (`python bench/agent_eval.py` with a key), the real model answers and the script
reports how many cases agree with `expected.json`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.checkpoints import open_checkpointer
from agents.graph import AgentSettings, build_graph
from agents.policy import ValidProposal
from agents.run import start
from agents.tools import ToolResult


@dataclass(frozen=True)
class Case:
    name: str
    context: dict[str, Any]
    expected: dict[str, Any]
    scripted: list[Any]

    @classmethod
    def load(cls, folder: Path) -> Case:
        def read(name: str) -> Any:
            return json.loads((folder / name).read_text(encoding="utf-8"))

        scripted = read("scripted.json") if (folder / "scripted.json").exists() else []
        return cls(folder.name, read("context.json"), read("expected.json"), scripted)


def load_cases(root: Path) -> list[Case]:
    return [Case.load(folder) for folder in sorted(root.iterdir()) if folder.is_dir()]


class RecordedTools:
    """The tools' recorded answers for one case."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def _answer(self, key: str) -> ToolResult:
        recorded = self.context.get(key) or {"status": "not_found", "error": "not recorded"}
        return ToolResult(recorded["status"], recorded.get("data"), recorded.get("error"))

    def incident(self, incident_id: int) -> ToolResult:
        return self._answer("incident")

    def dataset_schema(self, incident_id: int) -> ToolResult:
        return self._answer("dataset")

    def past_incidents(self, incident_id: int) -> ToolResult:
        return self._answer("past_incidents")


@dataclass(frozen=True)
class CaseResult:
    case: str
    expected: dict[str, Any]
    outcome: str
    playbook: str | None
    agrees: bool


def run_case(case: Case, settings: AgentSettings, *, offline: bool = False) -> CaseResult:
    """Run the graph on the case's recorded context until it proposes, escalates or gives
    up; proposals are kept in memory (nothing is planned or stored)."""
    proposed: list[ValidProposal] = []

    def keep(incident_id: int, proposal: ValidProposal) -> int:
        proposed.append(proposal)
        return len(proposed)

    with (
        tempfile.TemporaryDirectory() as folder,
        open_checkpointer(str(Path(folder) / "checkpoints.sqlite")) as saver,
    ):
        graph = build_graph(RecordedTools(case.context), settings, keep, saver)
        final = start(graph, 1, case.name)
    outcome = final.get("outcome", "")
    playbook = proposed[-1].playbook if proposed else None
    expected = case.expected.get("offline", case.expected) if offline else case.expected
    agrees = outcome == expected["outcome"] and playbook == expected.get("playbook")
    return CaseResult(case.name, expected, outcome, playbook, agrees)

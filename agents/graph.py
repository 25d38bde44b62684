"""The agent as a LangGraph graph, checkpointed so a proposal waiting for a person survives
restarts.

    gather ─► propose ─► validate ─┬─ invalid, first time ─► propose (with the error)
                                   ├─ invalid again / model failed ─► END
                                   ├─ escalate ─► END
                                   └─ valid ─► store ─► await decision (interrupt)
                                                          ├─ rejected with a reason,
                                                          │  revisions left ─► propose
                                                          └─ otherwise ─► END

`gather` only reads (`ContextTools`). The one node with an effect is `store`, which calls
the daemon's `store_proposal` to record the agent's own proposal as a `PlaybookRun` (origin
`agent`), bound to its plan hash and waiting for a person like any other; the graph can
neither approve nor execute. What happened is returned in the state's `events`, which the
daemon writes to the audit trail.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import ValidationError

from agents.model_client import ModelSettings, ModelUnavailable, ask
from agents.policy import AgentPolicy, ProposalInvalid, ValidProposal, validate
from agents.prompt import messages
from agents.proposal import AgentProposal
from agents.tools import ContextTools, catalogue

#: Corrections the model gets after an invalid answer, per proposal.
RETRIES_AFTER_INVALID = 1


class StoreRefused(ValueError):
    """The daemon could not store the proposal (the playbook cannot plan, the plan touches
    more than the policy allows); the message says why."""


#: Records a valid proposal and returns its run id, or raises StoreRefused.
StoreProposal = Callable[[int, ValidProposal], int]


class AgentState(TypedDict, total=False):
    incident_id: int
    context: dict[str, Any]
    #: Why earlier answers were not accepted (validation errors, rejection reasons).
    feedback: list[str]
    attempts: int
    revisions: int
    answer: str | None
    proposal: dict[str, Any] | None
    run_id: int | None
    outcome: str
    #: What happened, in order, for the audit trail: {"event", ...details}.
    events: Annotated[list[dict[str, Any]], operator.add]


@dataclass(frozen=True)
class AgentSettings:
    model: ModelSettings
    policy: AgentPolicy
    #: Times a person's rejection (with a reason) leads to a revised proposal.
    max_revisions: int = 2


def build_graph(
    tools: ContextTools,
    settings: AgentSettings,
    store_proposal: StoreProposal,
    checkpointer: BaseCheckpointSaver[Any],
) -> Any:
    """The compiled graph; run it with `thread_id` in its config (`agents.run`)."""

    def gather(state: AgentState) -> AgentState:
        incident_id = state["incident_id"]
        context = {
            "incident": tools.incident(incident_id).to_dict(),
            "dataset": tools.dataset_schema(incident_id).to_dict(),
            "past_incidents": tools.past_incidents(incident_id).to_dict(),
        }
        return {"context": context, "feedback": [], "attempts": 0, "revisions": 0}

    def propose(state: AgentState) -> AgentState:
        prompt = messages(state["context"], catalogue(settings.policy), state.get("feedback", []))
        try:
            answer = ask(settings.model, prompt)
        except ModelUnavailable as error:
            return {
                "answer": None,
                "outcome": "model_unavailable",
                "events": [{"event": "agent.failed", "reason": str(error)}],
            }
        return {"answer": answer, "outcome": "answered"}

    def check(state: AgentState) -> AgentState:
        answer = state.get("answer") or ""
        try:
            parsed = AgentProposal.model_validate(json.loads(answer))
            valid = validate(parsed, settings.policy)
        except (json.JSONDecodeError, ValidationError, ProposalInvalid) as error:
            return _invalid(state, _reason(error), answer)
        if valid is None:
            return {
                "outcome": "escalated",
                "events": [
                    {
                        "event": "agent.escalated",
                        "rationale": parsed.rationale,
                        "confidence": parsed.confidence,
                    }
                ],
            }
        proposal = {
            "playbook": valid.playbook,
            "params": valid.params,
            "rationale": valid.rationale,
            "confidence": valid.confidence,
        }
        return {"proposal": proposal, "outcome": "valid"}

    def store(state: AgentState) -> AgentState:
        proposal = state["proposal"] or {}
        valid = ValidProposal(**proposal)
        try:
            run_id = store_proposal(state["incident_id"], valid)
        except StoreRefused as error:
            return _invalid(state, str(error), json.dumps(proposal))
        return {
            "run_id": run_id,
            "outcome": "proposed",
            "events": [{"event": "agent.proposed", "run_id": run_id, **proposal}],
        }

    def await_decision(state: AgentState) -> AgentState:
        decision = interrupt({"run_id": state["run_id"]})
        verdict, reason = decision.get("decision"), decision.get("reason")
        event = {"event": "agent.decided", "run_id": state["run_id"], "decision": verdict}
        if verdict == "reject" and reason and state.get("revisions", 0) < settings.max_revisions:
            feedback = [
                *state.get("feedback", []),
                f"A person rejected your proposal of {state['proposal']['playbook']} "  # type: ignore[index]
                f"(run {state['run_id']}): {reason}",
            ]
            return {
                "feedback": feedback,
                "revisions": state.get("revisions", 0) + 1,
                "attempts": 0,
                "outcome": "revising",
                "events": [{**event, "reason": reason, "revising": True}],
            }
        return {"outcome": f"closed:{verdict}", "events": [event]}

    graph = StateGraph(AgentState)
    graph.add_node("gather", gather)
    graph.add_node("propose", propose)
    graph.add_node("check", check)
    graph.add_node("store", store)
    graph.add_node("await_decision", await_decision)
    graph.add_edge(START, "gather")
    graph.add_edge("gather", "propose")
    graph.add_conditional_edges(
        "propose", lambda s: "check" if s["outcome"] == "answered" else END, ["check", END]
    )
    graph.add_conditional_edges("check", _after_check, ["propose", "store", END])
    graph.add_conditional_edges("store", _after_check, ["propose", "await_decision", END])
    graph.add_conditional_edges(
        "await_decision",
        lambda s: "propose" if s["outcome"] == "revising" else END,
        ["propose", END],
    )
    return graph.compile(checkpointer=checkpointer)


def _after_check(state: AgentState) -> str:
    outcome = state["outcome"]
    if outcome == "retry":
        return "propose"
    if outcome == "valid":
        return "store"
    if outcome == "proposed":
        return "await_decision"
    return END


def _invalid(state: AgentState, reason: str, answer: str) -> AgentState:
    attempts = state.get("attempts", 0)
    event = {"event": "agent.invalid", "reason": reason, "answer": answer[:2000]}
    if attempts < RETRIES_AFTER_INVALID:
        return {
            "attempts": attempts + 1,
            "feedback": [*state.get("feedback", []), f"Your answer was invalid: {reason}"],
            "outcome": "retry",
            "events": [event],
        }
    return {"outcome": "invalid", "events": [event]}


def _reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"the answer is not JSON: {error.msg} at character {error.pos}"
    if isinstance(error, ValidationError):
        return "the answer does not match the proposal schema: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in error.errors()
        )
    return str(error)

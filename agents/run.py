"""Starting the graph for an incident, resuming it with a person's decision, and asking a
thread what it waits for. A thread is one conversation about one incident; its checkpoints
live in the checkpointer, so any process can resume it."""

from __future__ import annotations

from typing import Any

from langgraph.types import Command


def thread_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def start(graph: Any, incident_id: int, thread_id: str) -> dict[str, Any]:
    """Run until the proposal waits for a person, or the graph ends; the state."""
    graph.invoke({"incident_id": incident_id}, thread_config(thread_id))
    return state(graph, thread_id)


def resume(graph: Any, thread_id: str, decision: str, reason: str | None) -> dict[str, Any]:
    """Give the waiting thread a person's decision (`approve`, `reject`, `expired`...)."""
    graph.invoke(Command(resume={"decision": decision, "reason": reason}), thread_config(thread_id))
    return state(graph, thread_id)


def state(graph: Any, thread_id: str) -> dict[str, Any]:
    return dict(graph.get_state(thread_config(thread_id)).values)


def waiting_for(graph: Any, thread_id: str) -> int | None:
    """The run id the thread waits on a decision for; None when it waits for nothing."""
    snapshot = graph.get_state(thread_config(thread_id))
    for task in snapshot.tasks:
        for pending in task.interrupts:
            value = pending.value
            if isinstance(value, dict) and value.get("run_id") is not None:
                return int(value["run_id"])
    return None

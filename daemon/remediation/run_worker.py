"""Applying a plan in a child process, so that a run can be stopped when it takes too long.

A thread cannot be stopped from outside; a process can. The executor starts one `spawn`ed
child per run (no state inherited from the daemon's threads), which applies the plan and
sends back its step log. Meanwhile the parent calls `heartbeat` every `interval` seconds
(the run's heartbeat in the store; it returns False when the run was taken over by another
worker) and kills the child at the deadline.

The child watches its parent: if the parent dies (SIGKILL, OOM), the child exits too, so a
run taken over after a crash is never applied by two processes at once.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from playbooks.base import Plan, PlaybookContext
from playbooks.registry import get_playbook

#: How often the child checks that its parent is alive, in seconds.
PARENT_CHECK_SECONDS = 0.5


class ApplyFailed(RuntimeError):
    """The playbook's apply raised, the worker died, or the deadline passed."""


class ApplyTimedOut(ApplyFailed):
    pass


class ClaimLost(ApplyFailed):
    """Another worker took the run over (this one looked dead to it); stop, do not record."""


def apply_in_child(
    playbook: str,
    plan: Plan,
    context: PlaybookContext,
    *,
    timeout_seconds: float,
    heartbeat: Callable[[], bool],
    interval: float,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run `get_playbook(playbook).apply(plan, context)` in a child process; its step log.
    `on_step` is called in this process with each step as the child completes it."""
    spawn = multiprocessing.get_context("spawn")
    receiver, sender = spawn.Pipe(duplex=False)
    child = spawn.Process(
        target=_child_main,
        args=(playbook, plan.to_dict(), replace(context, on_step=None), sender, os.getpid()),
        name=f"warden-apply-{plan.incident_id}",
        daemon=True,
    )
    child.start()
    sender.close()
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            wait = max(0.0, min(interval, deadline - time.monotonic()))
            if receiver.poll(wait):
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    child.join()
                    raise ApplyFailed(
                        f"the worker process died (exit code {child.exitcode})"
                    ) from None
                if kind == "step":
                    if on_step is not None:
                        on_step(payload)
                    continue
                child.join()
                if kind == "ok":
                    return payload
                raise ApplyFailed(payload)
            if time.monotonic() >= deadline:
                raise ApplyTimedOut(f"timed out after {timeout_seconds:g}s; the worker was stopped")
            if not heartbeat():
                raise ClaimLost("another worker took the run over; this one stopped")
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        receiver.close()


def _child_main(
    playbook: str, plan: dict[str, Any], context: PlaybookContext, sender: Any, parent: int
) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    context = replace(context, on_step=lambda step: sender.send(("step", step)))
    try:
        steps = get_playbook(playbook).apply(Plan.from_dict(plan), context)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which records it
        last = traceback.extract_tb(error.__traceback__)[-1:]
        where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
        sender.send(("error", f"{type(error).__name__}: {error}{where}"))
    else:
        sender.send(("ok", steps))
    finally:
        sender.close()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)

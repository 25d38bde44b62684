"""What an agent's proposal may ask for: the allowlist and the bounds on params.

A proposal is valid when its playbook is registered and on the allowlist, its params
validate against the playbook's `Params` (unknown keys are errors), and the params stay
inside the bounds below. Bounds on what a plan touches (partitions) are checked by the
daemon after planning, on the plan itself. Anything else is rejected with a reason the model
gets once to correct, and that is recorded; it is never executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agents.proposal import AgentProposal
from playbooks.registry import get_playbook


class ProposalInvalid(ValueError):
    """The proposal breaks the schema, the allowlist or a bound; the message says how."""


@dataclass(frozen=True)
class AgentPolicy:
    """Limits on agent proposals (the `agent:` config block)."""

    allowlist: tuple[str, ...] = ("quarantine", "relabel_batch", "synthetic_backfill")
    #: Most rows a relabel batch may send to labellers.
    max_batch_size: int = 500
    #: Highest synthetic share of a training window a backfill may set.
    max_synthetic_share: float = 0.1
    #: Most files or partitions a plan may touch.
    max_partitions: int = 5


@dataclass(frozen=True)
class ValidProposal:
    playbook: str
    params: dict[str, Any]
    rationale: str
    confidence: float


def validate(proposal: AgentProposal, policy: AgentPolicy) -> ValidProposal | None:
    """The checked proposal; None for `escalate`. Raises ProposalInvalid."""
    if proposal.action == "escalate":
        return None
    name = proposal.playbook
    if not name:
        raise ProposalInvalid("action is playbook but no playbook is named")
    if name not in policy.allowlist:
        allowed = ", ".join(policy.allowlist) or "none"
        raise ProposalInvalid(f"playbook {name!r} is not allowed; allowed: {allowed}")
    try:
        playbook = get_playbook(name)
    except KeyError as error:
        raise ProposalInvalid(str(error.args[0])) from None
    try:
        params = playbook.parse_params(proposal.params)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in error.errors()
        )
        raise ProposalInvalid(f"params do not fit {name}: {problems}") from None
    if name == "quarantine" and "max_files" not in proposal.params:
        # The agent's quarantine is bounded by the policy unless it asks for less.
        params = params.model_copy(update={"max_files": policy.max_partitions})
    _check_bounds(name, params.model_dump(), policy)
    return ValidProposal(
        name, params.model_dump(mode="json"), proposal.rationale, proposal.confidence
    )


def _check_bounds(name: str, params: dict[str, Any], policy: AgentPolicy) -> None:
    if name == "relabel_batch" and params["batch_size"] > policy.max_batch_size:
        raise ProposalInvalid(
            f"batch_size {params['batch_size']} is over the policy bound {policy.max_batch_size}"
        )
    if name == "synthetic_backfill" and params["max_synthetic_share"] > policy.max_synthetic_share:
        raise ProposalInvalid(
            f"max_synthetic_share {params['max_synthetic_share']} is over the policy bound "
            f"{policy.max_synthetic_share}"
        )
    if name == "quarantine" and params["max_files"] > policy.max_partitions:
        raise ProposalInvalid(
            f"max_files {params['max_files']} is over the policy bound {policy.max_partitions}"
        )

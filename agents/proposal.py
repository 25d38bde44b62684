"""What the model must answer: a proposal, as a JSON object checked against this schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The proposal's `action`: run a playbook, or hand the incident to a person.
Action = Literal["playbook", "escalate"]


class AgentProposal(BaseModel):
    """The model's answer. `confidence` is the model's own estimate in [0, 1] that the
    playbook fixes the incident; it is shown to the approver, never used to approve."""

    model_config = ConfigDict(extra="forbid")

    action: Action = Field(description="`playbook` to propose one, `escalate` for a person.")
    playbook: str | None = Field(
        None, description="Name of a playbook from the catalogue (when action is playbook)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="The playbook's params, valid against its schema."
    )
    rationale: str = Field(
        min_length=1, max_length=4000, description="Why, citing the evidence, for the approver."
    )
    confidence: float = Field(ge=0.0, le=1.0, description="0 to 1.")


def response_format() -> dict[str, Any]:
    """The OpenAI `response_format` asking for a JSON object of this shape."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "agent_proposal", "schema": AgentProposal.model_json_schema()},
    }

"""The `agent:` block: the optional LLM that proposes fixes for incidents no route covers."""

from __future__ import annotations

import typing
from datetime import timedelta

from pydantic import Field

from daemon.config.base import ConfigModel
from daemon.config.routing import PlaybookName
from detectors.params import Duration


class AgentConfig(ConfigModel):
    """The agent proposes; a person always approves (its proposals never take `auto`)."""

    enabled: bool = Field(True, description="Set false to keep the block but not the agent.")
    model: str = Field("gpt-4o-mini", description="Model name, as the server knows it.")
    base_url: str | None = Field(
        None,
        description="An OpenAI-compatible server's base URL (on-premises: http://host/v1); "
        "default OpenAI's.",
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Environment variable holding the key; without it the agent is off.",
    )
    timeout: Duration = Field(
        default_factory=lambda: timedelta(seconds=60),
        description="How long one model request may take (default 60s).",
    )
    max_tokens: int = Field(1200, ge=100, le=32_000, description="Longest answer, in tokens.")
    max_revisions: int = Field(
        2, ge=0, le=10, description="Revised proposals after rejections with a reason."
    )
    allowlist: list[PlaybookName] = Field(
        default_factory=lambda: list(typing.get_args(PlaybookName)),
        description="Playbooks the agent may propose.",
    )
    max_batch_size: int = Field(500, ge=1, description="Largest relabel batch it may propose.")
    max_synthetic_share: float = Field(
        0.1, gt=0, le=0.5, description="Highest synthetic share of a training window."
    )
    max_partitions: int = Field(
        5, ge=1, description="Most files or partitions one of its plans may touch."
    )
    checkpoints: str | None = Field(
        None,
        description="Where waiting proposals are checkpointed: a SQLite file or a "
        "postgresql:// URL (default: the store's PostgreSQL, or "
        "<work_root>/agent-checkpoints.sqlite beside a SQLite store).",
    )

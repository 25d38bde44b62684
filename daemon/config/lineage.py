"""The `lineage:` section: where OpenLineage events of scans go (`daemon.lineage`)."""

from __future__ import annotations

import importlib.util
from datetime import timedelta

from pydantic import Field, model_validator

from daemon.config.base import ConfigModel
from detectors.params import Duration


class OpenLineageConfig(ConfigModel):
    """One OpenLineage destination: an HTTP endpoint (Marquez or any compatible server),
    or a file of one JSON event per line. Exactly one of `url` and `file`."""

    url: str | None = Field(
        None,
        description="Base URL of the OpenLineage server; events are POSTed to "
        "<url>/<endpoint> (Marquez: http://marquez:5000).",
    )
    endpoint: str = Field(
        "api/v1/lineage", description="Path of the server's lineage endpoint below `url`."
    )
    file: str | None = Field(
        None,
        description="A file events are appended to, one JSON object per line (relative to "
        "the config file).",
    )
    namespace: str = Field(
        "warden",
        min_length=1,
        max_length=200,
        description="The namespace of the jobs Warden's scans run as (one job per monitor).",
    )
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The environment variable holding the server's API key, sent as "
        "`Authorization: Bearer <key>` (the key itself is never written in the file).",
    )
    timeout: Duration = Field(
        timedelta(seconds=10), description="How long one delivery waits for the server."
    )

    @model_validator(mode="after")
    def _one_destination(self) -> OpenLineageConfig:
        if (self.url is None) == (self.file is None):
            raise ValueError("give exactly one of `url` (an OpenLineage server) or `file`")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"`url` must be an http:// or https:// URL, not {self.url!r}")
        if importlib.util.find_spec("openlineage") is None:
            raise ValueError(
                "OpenLineage events need the `lineage` extra: pip install 'ml-warden[lineage]'"
            )
        return self


class LineageConfig(ConfigModel):
    openlineage: OpenLineageConfig | None = Field(
        None, description="Send each scan as an OpenLineage run event (`daemon.lineage`)."
    )

"""Process settings from the environment (pydantic-settings), prefix `WARDEN_`.

- `WARDEN_CONFIG`: the config file the CLI uses when `--config` is not given.
- `WARDEN_STORE__URL`, `WARDEN_SLACK__BOT_TOKEN`, `WARDEN_PLAYBOOKS__WORK_ROOT`, ...:
  override a config value of the `store`, `slack` or `playbooks` section; the double
  underscore steps into a section (`store.url`, `slack.bot_token`). A relative path given
  here is relative to the config file's folder, as in the file. Secrets belong here or in
  `${VAR}` references, never in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONFIG_FILE = "warden.yaml"


class EnvironmentSettings(BaseSettings):
    """The `WARDEN_*` variables Warden reads."""

    model_config = SettingsConfigDict(
        env_prefix="WARDEN_", env_nested_delimiter="__", extra="ignore"
    )

    config: str = DEFAULT_CONFIG_FILE
    store: dict[str, Any] | None = None
    slack: dict[str, Any] | None = None
    playbooks: dict[str, Any] | None = None


def read_settings(environ: Mapping[str, str] | None = None) -> EnvironmentSettings:
    if environ is None:
        return EnvironmentSettings()
    # pydantic-settings reads os.environ; pass an explicit mapping through init values instead.
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith("WARDEN_"):
            continue
        parts = key.removeprefix("WARDEN_").lower().split("__")
        target = values
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return EnvironmentSettings.model_validate(
        {k: v for k, v in values.items() if k in EnvironmentSettings.model_fields}
    )


def environment_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Config sections overridden by the environment, ready to merge over the file."""
    settings = read_settings(environ)
    sections = ("store", "slack", "playbooks")
    return {key: value for key in sections if (value := getattr(settings, key))}

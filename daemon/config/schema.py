"""The JSON Schema of the config file.

config/warden.schema.json is this, kept in sync by a test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daemon.config.models import WardenConfig

STARTER_CONFIG = Path(__file__).with_name("starter.yaml")


def config_json_schema() -> dict[str, Any]:
    schema = WardenConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Warden config"
    return schema


def config_json_schema_text() -> str:
    return json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"

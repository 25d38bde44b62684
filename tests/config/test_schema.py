"""The exported JSON Schema and the shipped example configs stay in sync with the models."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config import load_config
from daemon.config.schema import STARTER_CONFIG, config_json_schema, config_json_schema_text

ROOT = Path(__file__).parent.parent.parent


def test_schema_file_matches_the_models():
    shipped = (ROOT / "config" / "warden.schema.json").read_text()
    assert shipped == config_json_schema_text(), (
        "config/warden.schema.json is out of date; "
        "regenerate it with: warden schema > config/warden.schema.json"
    )


def test_schema_describes_monitor_kinds_and_durations():
    schema = config_json_schema()
    text = json.dumps(schema)
    for kind in ("drift", "quality", "freshness"):
        assert f'"const": "{kind}"' in text
    assert '"pattern": "^\\\\d+[smhdw]$"' in text
    assert schema["additionalProperties"] is False


def test_example_config_is_the_starter_and_is_valid():
    example = ROOT / "config" / "warden.example.yaml"
    assert example.read_text() == STARTER_CONFIG.read_text(), (
        "config/warden.example.yaml must equal the `warden init` starter"
    )
    config = load_config(example, environ={})
    assert {m.kind for m in config.monitors} == {"drift", "quality", "freshness"}

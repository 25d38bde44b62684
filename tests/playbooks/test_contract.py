"""Every registered playbook keeps the contract: typed params that reject what they do not
know, a docstring, and a name the config can route to."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from daemon.config.routing import PlaybookName
from playbooks.registry import PLAYBOOKS, get_playbook

NAMES = sorted(get_playbook("quarantine") and PLAYBOOKS)


@pytest.mark.parametrize("name", NAMES)
def test_playbook_contract(name: str) -> None:
    playbook = PLAYBOOKS[name]
    assert playbook.name == name and name in typing.get_args(PlaybookName)
    assert (type(playbook).__doc__ or "").strip(), "a playbook says what it does"
    assert playbook.Params.model_config.get("extra") == "forbid"
    for raw in playbook.example_params:
        params = playbook.parse_params(raw)
        assert playbook.parse_params(params.model_dump()) == params  # round trip
    for raw in playbook.invalid_params:
        with pytest.raises(ValidationError):
            playbook.parse_params(raw)


def test_unknown_playbook_names_the_registered_ones() -> None:
    with pytest.raises(KeyError, match="registered: quarantine"):
        get_playbook("delete_everything")

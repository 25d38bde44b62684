"""Every evaluation case, offline: the scripted server gives the case's recorded answers and
the agent must end as the case expects (`agents.evaluation`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.evaluation import Case, load_cases, run_case
from agents.graph import AgentSettings
from agents.model_client import ModelSettings
from agents.policy import AgentPolicy
from tests.agent.fake_openai import Answer, FakeOpenAI

CASES = Path(__file__).with_name("eval_cases")


def test_there_are_cases_of_each_outcome():
    outcomes = {case.expected["outcome"] for case in load_cases(CASES)}
    assert {"proposed", "escalated"} <= outcomes and len(load_cases(CASES)) >= 4


@pytest.mark.parametrize("case", load_cases(CASES), ids=lambda case: case.name)
def test_case_offline(case: Case):
    fake = FakeOpenAI([Answer(a if isinstance(a, str) else json.dumps(a)) for a in case.scripted])
    try:
        settings = AgentSettings(
            ModelSettings("scripted", "sk-test", fake.base_url, timeout=10), AgentPolicy()
        )
        result = run_case(case, settings, offline=True)
    finally:
        fake.close()
    assert result.agrees, result
    assert len(fake.requests) == len(case.scripted)  # every scripted answer was asked for

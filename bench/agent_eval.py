"""The agent's evaluation cases against a live model: how many agree with `expected.json`.

    OPENAI_API_KEY=... .venv/bin/python bench/agent_eval.py [--model gpt-4o-mini]
        [--base-url http://onprem:8000/v1] [--cases tests/agent/eval_cases]

Without a key it says so and exits 2 (the same cases run offline in the test suite, against
a scripted server). Each case runs the real graph on the case's recorded context; nothing
is planned or stored. Prints one line per case and the agreement.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.evaluation import load_cases, run_case  # noqa: E402
from agents.graph import AgentSettings  # noqa: E402
from agents.model_client import ModelSettings  # noqa: E402
from agents.policy import AgentPolicy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--key-env", default="OPENAI_API_KEY")
    parser.add_argument("--cases", type=Path, default=ROOT / "tests" / "agent" / "eval_cases")
    args = parser.parse_args()
    key = os.environ.get(args.key_env)
    if not key:
        print(f"set {args.key_env} to run the cases live", file=sys.stderr)
        return 2
    settings = AgentSettings(ModelSettings(args.model, key, args.base_url), AgentPolicy())
    results = [run_case(case, settings) for case in load_cases(args.cases)]
    for result in results:
        mark = "agree" if result.agrees else "DIFFER"
        print(
            f"{mark:6} {result.case}: got {result.outcome} {result.playbook or ''}, "
            f"expected {result.expected['outcome']} {result.expected.get('playbook') or ''}"
        )
    agreed = sum(result.agrees for result in results)
    print(f"agreement: {agreed}/{len(results)} ({agreed / max(1, len(results)):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

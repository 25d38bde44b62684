"""Each command imports only what it uses (issue 17): the read-only commands never load an
engine, a dataframe library or a client of a service they do not call, and `scan` never
loads the Slack client, the agent or the modules that execute playbooks.

Each command runs in its own interpreter through `daemon.cli.app.main`, the function the
`warden` executable calls, and writes the names of the modules it imported when it exits.
The assertion is a list of module names, not a timing (the timings are in `bench/`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Ran

#: What no read-only command may load: engines, dataframes, statistics, service clients.
HEAVY = (
    "pandas",
    "ibis",
    "duckdb",
    "scipy",
    "numpy",
    "pyarrow",
    "slack_sdk",
    "langgraph",
    "openai",
)
#: What `scan` may not load: Slack's client and service, the agent, playbook execution.
NOT_FOR_SCAN = (
    "slack_sdk",
    "daemon.slack.service",
    "daemon.slack.socket_mode",
    "daemon.slack.dispatcher",
    "langgraph",
    "openai",
    "agents",
    "daemon.agent",
    "daemon.remediation.executor",
    "daemon.remediation.run_worker",
    "daemon.remediation.run_phases",
    "daemon.remediation.verification",
    "daemon.remediation.approvals",
)

_RUN_AND_LIST = """
import atexit, json, sys
target = sys.argv[1]
atexit.register(lambda: open(target, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["warden", *sys.argv[2:]]
from daemon.cli.app import main
main()
"""


def _imported(tmp_path: Path, cwd: Path, *args: str, env: dict[str, str] | None = None):
    """The modules `warden ARGS` imported (it must succeed), as a set of names."""
    listing = tmp_path / f"modules-{abs(hash(args))}.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    environment.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST, str(listing), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return set(json.loads(listing.read_text()))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


READ_ONLY_COMMANDS = [
    ("--help",),
    ("incidents", "--help"),
    ("validate-config", "my-demo/warden.yaml", "--no-check-data"),
    ("incidents", "list", "-c", "my-demo/warden.yaml"),
    ("incidents", "show", "1", "-c", "my-demo/warden.yaml"),
    ("audit", "log", "-c", "my-demo/warden.yaml"),
    ("audit", "verify", "-c", "my-demo/warden.yaml"),
    ("report", "-c", "my-demo/warden.yaml"),
    ("runs", "list", "-c", "my-demo/warden.yaml"),
    ("silences", "list", "-c", "my-demo/warden.yaml"),
    ("tokens", "list", "-c", "my-demo/warden.yaml"),
]


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=" ".join)
def test_read_only_commands_load_no_engine_and_no_service_client(
    demo_folder: tuple[Path, Ran], tmp_path: Path, args: tuple[str, ...]
):
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    modules = _imported(tmp_path, home, *args)
    assert "daemon.cli.app" in modules  # the listing is of a run that went through the CLI
    assert _loaded(modules, HEAVY) == []


def test_help_loads_neither_the_config_models_nor_the_store(
    demo_folder: tuple[Path, Ran], tmp_path: Path
):
    home, _ = demo_folder
    modules = _imported(tmp_path, home, "--help")
    assert _loaded(modules, ("pydantic", "sqlalchemy", "sqlmodel", "daemon.store.models")) == []


def test_a_command_with_slack_configured_writes_the_outbox_without_the_slack_client(
    demo_copy: Path, tmp_path: Path
):
    config = demo_copy / "my-demo" / "warden.yaml"
    config.write_text(
        config.read_text()
        + "\nslack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  channel: C0123ABCD\n"
        + "  approvers: [U012AB3CD]\n"
    )
    env = {"SLACK_BOT_TOKEN": "xoxb-not-a-real-token"}
    listed = _imported(tmp_path, demo_copy, "incidents", "list", "-c", str(config), env=env)
    assert _loaded(listed, HEAVY) == []
    # An acknowledgement is a change: it writes its Slack message to the outbox, which the
    # daemon sends; the command itself needs no Slack client for that.
    changed = _imported(
        tmp_path, demo_copy, "incidents", "ack", "1", "-c", str(config), "--as", "t", env=env
    )
    assert "daemon.slack.outbox_writer" in changed
    assert _loaded(changed, HEAVY) == []


def test_scan_loads_no_slack_client_agent_or_playbook_execution(demo_copy: Path, tmp_path: Path):
    config = demo_copy / "my-demo" / "warden.yaml"
    config.write_text(
        config.read_text()
        + "\nslack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  channel: C0123ABCD\n"
        + "  approvers: [U012AB3CD]\n"
    )
    modules = _imported(
        tmp_path,
        demo_copy,
        "scan",
        "-c",
        str(config),
        "--at",
        "2025-02-12",
        "--json",
        env={"SLACK_BOT_TOKEN": "xoxb-not-a-real-token"},
    )
    assert "daemon.scan.runner" in modules  # it did scan
    assert _loaded(modules, NOT_FOR_SCAN) == []


def test_a_scan_that_routes_nothing_loads_no_playbook_and_no_dataframe_library(tmp_path: Path):
    """Playbooks (and pandas, which some of them use) load only to plan a proposal: the
    scan that opens a drift incident plans its proposal; the same scan again, with the
    incident already open and routed, plans nothing and loads neither, nor Ibis: every
    query it runs was compiled by the first (`detectors.sources.recorded_files`)."""
    import pyarrow.parquet as pq

    from tests.daemon.engine_cases import AT, events_table

    pq.write_table(events_table(), tmp_path / "events.parquet")
    day = (AT - timedelta(days=7)).isoformat()
    (tmp_path / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - {name: drift, kind: drift, dataset: events, columns: [amount, kind], window: 1d,\n"
        f"     reference: {{start: '{day}', end: '{(AT - timedelta(days=1)).isoformat()}'}}}}\n"
    )
    scan = ("scan", "-c", "warden.yaml", "--at", AT.isoformat(), "--json")
    first = _imported(tmp_path, tmp_path, *scan)
    assert "daemon.remediation.proposal_queue" in first  # the case: the first one planned
    (tmp_path / "again").mkdir()
    again = _imported(tmp_path / "again", tmp_path, *scan)
    assert "daemon.scan.runner" in again
    assert _loaded(again, ("playbooks", "pandas", "daemon.remediation.proposal_queue")) == []
    # Its queries and its dataset's opening were kept by the first: no expression layer.
    assert "ibis" in first
    assert _loaded(again, ("ibis", "sqlglot", "pyarrow")) == []


def test_a_metric_anomaly_scan_reuses_its_compiled_query_without_ibis(tmp_path: Path):
    """The first scan measures the history and compiles its one bucketed query; the next
    scan (a new process) runs it from the store's archive without building Ibis."""
    import pyarrow.parquet as pq

    from tests.daemon.engine_cases import AT, events_table

    pq.write_table(events_table(), tmp_path / "events.parquet")
    (tmp_path / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - {name: metrics, kind: metric_anomaly, dataset: events, window: 1d,\n"
        "     columns: [amount, kind], training: 7d}\n"
    )
    scan = ("scan", "-c", "warden.yaml", "--at", AT.isoformat(), "--json")
    first = _imported(tmp_path, tmp_path, *scan)
    assert "daemon.scan.metric_evaluator" in first and "ibis" in first
    (tmp_path / "again").mkdir()
    again = _imported(tmp_path / "again", tmp_path, *scan)
    assert "daemon.scan.metric_evaluator" in again
    assert _loaded(again, ("ibis", "sqlglot", "pyarrow", "pandas")) == []

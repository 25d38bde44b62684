"""The rooms of `daemon/` import only downwards, as the loop runs: cli -> runtime ->
http/slack/paging/agent -> remediation -> scan/reporting -> incidents/lineage -> config ->
store; and the packages below the daemon (playbooks, agents, detectors) never import it."""

from __future__ import annotations

import ast
from pathlib import Path

import daemon

ROOT = Path(daemon.__file__).resolve().parent
#: Higher imports lower; equal ranks may import each other only where listed in SIDEWAYS.
RANKS = {
    "cli": 9,
    "demo": 9,
    "runtime": 8,
    "http": 7,
    "slack": 6,
    "paging": 6,
    "agent": 6,
    "remediation": 5,
    "scan": 4,
    "reporting": 4,
    "incidents": 3,
    "lineage": 3,
    "config": 2,
    "settings": 1,
    "migrations": 1,
    "store": 0,
    "crash_points": 0,
    "retry_after": 0,
    "clock": -1,
}
#: The demo is a command: it shares the CLI's helpers (and the CLI starts it).
SIDEWAYS = {("demo", "cli"), ("cli", "demo")}
BELOW_THE_DAEMON = ("playbooks", "agents", "detectors")


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "daemon"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_room_has_a_rank():
    rooms = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    rooms |= {path.stem for path in ROOT.glob("*.py") if path.stem != "__init__"}
    rooms |= {"migrations"} if (ROOT / "migrations").is_dir() else set()
    assert rooms == set(RANKS)


def test_daemon_rooms_import_only_downwards():
    upward = []
    for path in ROOT.rglob("*.py"):
        source = _room(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        for module in _imports(path):
            if not module.startswith("daemon."):
                continue
            target = _room(module)
            if target == source or (source, target) in SIDEWAYS:
                continue
            if RANKS[target] >= RANKS[source]:
                upward.append(f"{path.relative_to(ROOT.parent)} imports {module}")
    assert upward == []


def test_the_packages_below_never_import_the_daemon():
    offenders = [
        f"{path} imports {module}"
        for package in BELOW_THE_DAEMON
        for path in (ROOT.parent / package).rglob("*.py")
        for module in _imports(path)
        if module == "daemon" or module.startswith("daemon.")
    ]
    assert offenders == []

"""How long a person waits for a `warden` command, whole process, from a cold interpreter.

Runs the demo once into a temporary folder (its SQLite store and Parquet data), then times
each command as a user types it: the `warden` executable in a fresh process, wall time and
peak RSS of that process (its `resource` usage), median and spread over `--repeat` runs.

    python bench/cli_startup.py               # 7 runs of each command
    python bench/cli_startup.py --repeat 15

The commands: `warden --help`, `validate-config --no-check-data` (the config alone),
`validate-config` (also opens every dataset through the engine, as a scan does),
`incidents list`, `incidents show 1`, `audit log`, `report`, and a `scan` of the demo's
monitors at one instant (their reference profiles cached by the demo's own scans).
Compiled modules are cached (`.pyc`, written by the warm-up run) as in any installation.
Startup is mostly imports: the lists of what each command may not import are asserted in
tests/cli/test_command_imports.py; the times are only measured here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARDEN = Path(sys.executable).with_name("warden")
COMMANDS: list[tuple[str, list[str]]] = [
    ("warden --help", ["--help"]),
    ("validate-config --no-check-data", ["validate-config", "d/warden.yaml", "--no-check-data"]),
    ("validate-config (opens the data)", ["validate-config", "d/warden.yaml"]),
    ("incidents list", ["incidents", "list", "-c", "d/warden.yaml"]),
    ("incidents show 1", ["incidents", "show", "1", "-c", "d/warden.yaml"]),
    ("audit log", ["audit", "log", "-c", "d/warden.yaml"]),
    ("report", ["report", "-c", "d/warden.yaml"]),
    ("scan (cached references)", ["scan", "-c", "d/warden.yaml", "--at", "2025-02-12"]),
]


def _environment() -> dict[str, str]:
    # Python caches compiled modules (.pyc) as a user's installation does: a sandbox that
    # sets PYTHONDONTWRITEBYTECODE would recompile every module at every start.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WARDEN_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    environment.update({"COLUMNS": "120", "NO_COLOR": "1"})
    return environment


def _timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `warden ARGS` process (its own rusage)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(WARDEN), *args],
        cwd=cwd,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    code = child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode() if child.stderr else ""
    if child.stderr:
        child.stderr.close()
    if code != 0:
        raise SystemExit(f"warden {' '.join(args)} failed ({code}):\n{error}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warden-cli-bench-") as folder:
        home = Path(folder)
        demo = subprocess.run(
            [str(WARDEN), "demo", "d"], cwd=home, env=_environment(), capture_output=True
        )
        if demo.returncode != 0:
            raise SystemExit(f"the demo failed:\n{demo.stderr.decode()}")
        print(f"{'command':36} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MB':>12}")
        for label, args in COMMANDS:
            _timed(args, home)  # warm the file cache, like a person's second command
            runs = [_timed(args, home) for _ in range(options.repeat)]
            times = [elapsed for elapsed, _ in runs]
            peak = max(rss for _, rss in runs)
            print(
                f"{label:36} {statistics.median(times):9.2f} {min(times):7.2f} "
                f"{max(times):7.2f} {peak:12.0f}"
            )


if __name__ == "__main__":
    main()

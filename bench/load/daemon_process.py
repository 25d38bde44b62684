"""The `warden run` replicas: start them, wait until ready, sample /proc, stop them.

Each replica is a real daemon subprocess with its own HTTP port and log file, so every CPU
second measured is a daemon's own. Linux only (/proc).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WARDEN = Path(sys.executable).with_name("warden")
#: Seconds after which a daemon has rewritten its CPU profile (it does every 5 s).
PROFILE_WRITE_EVERY = 5.5


@dataclass(frozen=True)
class ProcessSample:
    at: float  # time.monotonic()
    cpu_seconds: float  # utime + stime
    rss_mb: float
    peak_rss_mb: float  # VmHWM; in a sum over replicas, the sum of each one's peak
    threads: int


def sample_process(pid: int) -> ProcessSample:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    status = {}
    with open(f"/proc/{pid}/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return ProcessSample(
        time.monotonic(),
        cpu,
        int(status["VmRSS"][0]) / 1024,
        int(status["VmHWM"][0]) / 1024,
        int(status["Threads"][0]),
    )


def summed(samples: list[ProcessSample]) -> ProcessSample:
    """The replicas as one: CPU, memory and threads added up; the latest sampling time."""
    return ProcessSample(
        max(sample.at for sample in samples),
        sum(sample.cpu_seconds for sample in samples),
        sum(sample.rss_mb for sample in samples),
        sum(sample.peak_rss_mb for sample in samples),
        sum(sample.threads for sample in samples),
    )


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all probes are held open together, so none repeats)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass(frozen=True)
class Daemon:
    """One `warden run` replica (numbered from 1)."""

    number: int
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.port}{path}", timeout)

    def sample(self) -> ProcessSample:
        return sample_process(self.pid)


def profile_path(log_path: Path) -> Path:
    """Where the daemon logging to `log_path` writes its CPU profile
    (`daemon.runtime.cpu_profile`)."""
    return log_path.with_suffix(".cpu.json")


def read_profile(log_path: Path) -> dict[str, Any] | None:
    """The daemon's CPU profile as last written (at most `WRITE_EVERY`, 5 s, old)."""
    try:
        return json.loads(profile_path(log_path).read_text())
    except (OSError, ValueError):
        return None


def start_daemon(number: int, config: Path, port: int, log_path: Path) -> Daemon:
    # Settings from the environment (WARDEN_STORE__URL...) would override the generated config.
    env = {key: value for key, value in os.environ.items() if not key.startswith("WARDEN_")}
    env["WARDEN_CPU_PROFILE"] = str(profile_path(log_path))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(WARDEN), "run", "--config", str(config), "--http-port", str(port)],
            cwd=config.parent,
            env={**env, "COLUMNS": "200"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Daemon(number, process, port, log_path)


def wait_ready(daemons: list[Daemon], timeout: float) -> None:
    """Until every replica's `/readyz` answers 200 (store and scheduler up); exits with the
    log's tail if one dies or takes longer than `timeout` seconds (the caller stops the rest)."""
    deadline = time.monotonic() + timeout
    waiting = list(daemons)
    while waiting and time.monotonic() < deadline:
        for daemon in list(waiting):
            if daemon.process.poll() is not None:
                sys.exit(
                    f"daemon {daemon.number} exited with {daemon.process.returncode} while "
                    f"starting:\n" + tail(daemon.log_path)
                )
            try:
                if daemon.get("/readyz", timeout=2)[0] == 200:
                    waiting.remove(daemon)
            except OSError:
                pass
        if waiting:
            time.sleep(0.5)
    if waiting:
        sys.exit(
            f"daemon {waiting[0].number} was not ready within {timeout:.0f} s:\n"
            + tail(waiting[0].log_path)
        )


def stop_daemons(daemons: list[Daemon], timeout: float = 120) -> list[tuple[float, int | str]]:
    """SIGTERM to every replica at once, then wait; SIGKILL after `timeout`. Returns, per
    replica, (seconds from the signal to its exit, to 20 ms, and its exit code or 'killed')."""
    started = time.monotonic()
    for daemon in daemons:
        daemon.process.send_signal(signal.SIGTERM)  # a no-op once it has exited
    stopped: dict[int, tuple[float, int | str]] = {}
    while len(stopped) < len(daemons) and time.monotonic() < started + timeout:
        for daemon in daemons:
            if daemon.number not in stopped and daemon.process.poll() is not None:
                stopped[daemon.number] = (time.monotonic() - started, daemon.process.returncode)
        time.sleep(0.02)
    for daemon in daemons:
        if daemon.number not in stopped:
            daemon.process.kill()
            daemon.process.wait()
            stopped[daemon.number] = (time.monotonic() - started, "killed")
    return [stopped[daemon.number] for daemon in daemons]


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def sleep_until(epoch_seconds: float) -> None:
    time.sleep(max(0.0, epoch_seconds - time.time()))

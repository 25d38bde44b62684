"""A crash anywhere between a scan's commit and its proposals loses nothing.

A real `warden scan` over the demo's data kills itself (SIGKILL, `WARDEN_TEST_STOP_AT`) at a
seeded passage of each point: after the scan committed and before planning, after a claim,
after a plan was made but before it was stored, after it was stored. `warden runs plan`
then finishes the job: every incident routed to a playbook ends with exactly one proposal,
the same proposals an uninterrupted scan makes (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest
from sqlmodel import select

from daemon.demo.story import LAST_SCAN
from daemon.store.engine import open_store
from daemon.store.models import Incident, PlaybookRun, ProposalRequest
from tests.cli.conftest import Ran, run_warden

pytestmark = pytest.mark.slow

POINTS = ("scan.recorded", "proposal.claimed", "proposal.planned", "proposal.recorded")


def _scan(home: Path, store_url: str, stop_at: str | None = None) -> Ran:
    env = {"WARDEN_STORE__URL": store_url}
    if stop_at:
        env["WARDEN_TEST_STOP_AT"] = stop_at
    return run_warden(
        "scan", "-c", "my-demo/warden.yaml", "--at", LAST_SCAN.isoformat(), "--json",
        cwd=home, env=env,
    )  # fmt: skip


def _proposals(store_url: str) -> dict[str, list[str]]:
    """Per routed incident (by fingerprint), the playbooks of its runs."""
    with open_store(store_url) as store, store.session(readonly=True) as session:
        incidents = session.exec(select(Incident)).all()
        runs = session.exec(select(PlaybookRun)).all()
        requests = session.exec(select(ProposalRequest)).all()
    assert all(r.status in ("proposed", "refused") for r in requests), [
        (r.incident_id, r.status, r.last_error) for r in requests
    ]
    routed = {i.id: i.fingerprint for i in incidents if (i.route or {}).get("playbook")}
    found: dict[str, list[str]] = {fingerprint: [] for fingerprint in routed.values()}
    for run in runs:
        found[routed[run.incident_id]].append(run.playbook)
    return found


@pytest.fixture(scope="module")
def demo_home(demo_folder: tuple[Path, Ran]) -> Path:
    """The shared demo, read only: these scans write to a store of their own."""
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    return home


@pytest.fixture(scope="module")
def uninterrupted(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    store_url = f"sqlite:///{tmp_path_factory.mktemp('baseline') / 'warden.db'}"
    ran = _scan(demo_home, store_url)
    assert ran.code == 0, ran.stderr
    planned = [p for line in ran.stdout.splitlines() for p in json.loads(line)["proposals"]]
    assert [p["status"] for p in planned].count("proposed") >= 2, planned
    found = _proposals(store_url)
    assert all(len(playbooks) <= 1 for playbooks in found.values()), found
    return found


@pytest.mark.parametrize("point", POINTS)
def test_a_scan_killed_at_any_point_leaves_exactly_one_proposal_per_routed_incident(
    point: str, demo_home: Path, store_url: str, uninterrupted: dict[str, list[str]]
) -> None:
    routed = sum(1 for playbooks in uninterrupted.values() if playbooks)
    passage = random.Random(f"{point}-15").randint(1, routed) if point != "scan.recorded" else 1
    killed = _scan(demo_home, store_url, stop_at=f"{point}:{passage}")
    # The process must have reached the point and died there, or this test proves nothing.
    assert killed.code == -signal.SIGKILL, (killed.code, killed.stderr[-2000:])

    # Restarted as cron would: the same scan again, then whatever is still queued.
    again = _scan(demo_home, store_url)
    assert again.code == 0, again.stderr
    ran = run_warden(
        "runs", "plan", "-c", "my-demo/warden.yaml", "--json",
        cwd=demo_home, env={"WARDEN_STORE__URL": store_url},
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert _proposals(store_url) == uninterrupted

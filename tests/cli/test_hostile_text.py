"""Text from data reaches a person's terminal as text: Rich markup in a column name is shown
literally (never parsed, never a MarkupError), and escape sequences in values, reasons and
names (OSC 52 sets the clipboard, CSI recolours) never reach the terminal, in every human
output of the real `warden` executable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import Ran, run_warden

START = datetime(2025, 1, 1, tzinfo=UTC)
AT = START + timedelta(days=8)
#: A column name that is valid Rich markup, and one that is broken markup (a closing tag
#: with nothing open: MarkupError when parsed).
MARKUP_COLUMN = "[bold red]x[/]"
BROKEN_COLUMN = "[/]"
#: The folder of the data, so paths in plans and manifests carry markup too.
FOLDER = "[bold red]data[/]"
CLIPBOARD = "\x1b]52;c;aGVsbG8=\x07"
RED = "\x1b[31m"
#: New categories on the last day: they carry escape sequences and a bidi override.
NEW_KINDS = (f"{CLIPBOARD}pwn", f"{RED}red\u202e")
REASON = f"{RED}duplicate{CLIPBOARD} [bold]of #1[/] \x9b31m"
ACTOR = f"mallory{RED}[/]"


def _write_events(home: Path) -> None:
    """Eight days of rows; on the last day both numeric columns drift, one gets nulls, and
    `kind` gets the new categories."""
    rng = np.random.default_rng(7)
    rows = 8 * 300
    times = [START + timedelta(minutes=4.8 * i) for i in range(rows)]
    last_day = np.array([t >= START + timedelta(days=7) for t in times])
    marked = rng.normal(100, 15, rows) + np.where(last_day, 30, 0)
    broken = rng.normal(0, 1, rows) + np.where(last_day, 3, 0)
    kinds = rng.choice(["card", "cash"], rows).astype(object)
    for index in np.flatnonzero(last_day & (rng.random(rows) < 0.5)):
        kinds[index] = NEW_KINDS[index % 2]
    nulls = last_day & (rng.random(rows) < 0.4)
    (home / FOLDER).mkdir(parents=True)  # `[/]` is a folder `[` holding `]`
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
                MARKUP_COLUMN: [
                    None if n else float(v) for v, n in zip(marked, nulls, strict=True)
                ],
                BROKEN_COLUMN: broken,
                "kind": list(kinds),
            }
        ),
        home / FOLDER / "part-0.parquet",
    )
    reference = (
        f"{{start: '{START.isoformat()}', end: '{(START + timedelta(days=7)).isoformat()}'}}"
    )
    monitors = "".join(
        f"  - name: {kind}\n    kind: {kind}\n    dataset: events\n    window: 1d\n"
        f"    reference: {reference}\n"
        for kind in ("drift", "quality")
    )
    (home / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n"
        f"  events: {{format: parquet, path: '{FOLDER}', time_column: ts}}\n"
        f"monitors:\n{monitors}"
    )


def _warden(home: Path, *args: str) -> Ran:
    return run_warden(*args, "-c", "warden.yaml", cwd=home)


def _json_lines(ran: Ran) -> list[dict]:
    assert ran.code == 0, ran.stderr
    return [json.loads(line) for line in ran.stdout.splitlines()]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran, dict[str, int]]:
    """The data scanned (the human scan output kept), the new-category incident closed with
    a hostile reason by a hostile actor, and the null spike's quarantine run approved and
    executed. Returns (home, the scan's output, ids by name)."""
    home = tmp_path_factory.mktemp("hostile")
    _write_events(home)
    scanned = _warden(home, "scan", "--at", AT.isoformat())
    incidents = {
        row["pattern"]: row["id"]
        for row in _json_lines(_warden(home, "incidents", "list", "--json"))
    }
    closed = _warden(
        home,
        "incidents",
        "close",
        str(incidents["category_emergence"]),
        "--reason",
        REASON,
        "--as",
        ACTOR,
    )
    assert closed.code == 0, closed.stderr
    runs = _json_lines(_warden(home, "runs", "list", "--json"))
    quarantine = next(run["id"] for run in runs if run["incident_id"] == incidents["null_spike"])
    approved = _warden(home, "approve", str(quarantine), "--as", ACTOR, "--reason", REASON)
    assert approved.code == 0, approved.stderr
    executed = _warden(home, "runs", "execute")
    assert executed.code == 0, executed.stderr
    ids = {
        "new_kinds": incidents["category_emergence"],
        "drift": incidents["feature_drift"],
        "quarantine_run": quarantine,
    }
    return home, scanned, ids


def _assert_safe(ran: Ran) -> str:
    """`ran` succeeded, printed no escape or C1 control byte, and no crash; its stdout with
    runs of white space as one space (tables wrap)."""
    assert ran.code == 0, ran.stderr
    assert "MarkupError" not in ran.stderr and "bug in Warden" not in ran.stderr
    for stream in (ran.stdout, ran.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\x9b" not in stream
        assert "\u202e" not in stream
    return ran.stdout


def test_scan_shows_the_column_names_literally(hostile: tuple[Path, Ran, dict[str, int]]):
    _, scanned, _ = hostile
    out = _assert_safe(scanned)
    assert f"feature_drift({MARKUP_COLUMN})" in out
    assert f"feature_drift({BROKEN_COLUMN})" in out


def test_incidents_list_and_show(hostile: tuple[Path, Ran, dict[str, int]]):
    home, _, ids = hostile
    listed = _assert_safe(_warden(home, "incidents", "list"))
    assert f"{BROKEN_COLUMN}, {MARKUP_COLUMN}" in listed  # the scope column
    drift = _assert_safe(_warden(home, "incidents", "show", str(ids["drift"])))
    assert f"│ {MARKUP_COLUMN} " in drift  # the evidence table's column cell
    assert f"│ {BROKEN_COLUMN} " in drift


def test_incidents_show_strips_escape_sequences(hostile: tuple[Path, Ran, dict[str, int]]):
    home, _, ids = hostile
    closed = _assert_safe(_warden(home, "incidents", "show", str(ids["new_kinds"])))
    assert "duplicate [bold]of #1[/]" in closed  # the reason, its escapes stripped
    assert "mallory[/]" in closed  # the actor, in the timeline
    assert "New categories in kind:" in closed and "pwn" in closed


def test_audit_log(hostile: tuple[Path, Ran, dict[str, int]]):
    home, _, _ = hostile
    out = _assert_safe(_warden(home, "audit", "log"))
    assert MARKUP_COLUMN in out and "mallory[/]" in out


def test_runs_list_show_and_quarantine_list(hostile: tuple[Path, Ran, dict[str, int]]):
    home, _, ids = hostile
    _assert_safe(_warden(home, "runs", "list"))
    shown = " ".join(
        _assert_safe(_warden(home, "runs", "show", str(ids["quarantine_run"]))).split()
    )
    assert f"{FOLDER}/part-0.parquet" in shown  # the step's target, a path with markup
    assert "by mallory[/] via cli" in shown and "duplicate [bold]of #1[/]" in shown
    quarantined = _assert_safe(_warden(home, "quarantine", "list"))
    assert f"{FOLDER}/part-0.parquet" in quarantined


def test_report(hostile: tuple[Path, Ran, dict[str, int]]):
    home, _, _ = hostile
    _assert_safe(_warden(home, "report", "--since", "3000d"))

"""`warden runs show` keeps a label batch's plan readable: the row ids are summed up in the
human output and listed in full by --json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Ran, run_warden


def test_a_long_list_of_row_ids_is_summed_up(demo_folder: tuple[Path, Ran]):
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    config = ["-c", "my-demo/warden.yaml"]
    runs = [
        json.loads(line)
        for line in run_warden("runs", "list", *config, "--json", cwd=home).stdout.splitlines()
    ]
    relabel = next(r for r in runs if r["playbook"] == "relabel_batch")
    full = json.loads(
        run_warden("runs", "show", str(relabel["id"]), *config, "--json", cwd=home).stdout
    )
    row_ids = full["plan"]["steps"][0]["details"]["row_ids"]
    assert len(row_ids) > 4  # the case: a list too long to show inline
    shown = run_warden("runs", "show", str(relabel["id"]), *config, cwd=home)
    assert shown.code == 0
    text = " ".join(shown.stdout.split())
    assert f"{len(row_ids)} in all; --json lists them" in text
    assert row_ids[0] in text and row_ids[-1] not in text


def _list_at(width: int, home: Path) -> list[str]:
    ran = run_warden(
        "runs", "list", "-c", "my-demo/warden.yaml", cwd=home, env={"COLUMNS": str(width)}
    )
    assert ran.code == 0, ran.stderr
    return ran.stdout.splitlines()


def test_runs_list_fits_80_columns_and_leads_with_what_each_plan_does(
    demo_folder: tuple[Path, Ran],
):
    home, _ = demo_folder
    runs = [
        json.loads(line)
        for line in run_warden(
            "runs", "list", "-c", "my-demo/warden.yaml", "--json", cwd=home
        ).stdout.splitlines()
    ]
    assert len(runs) >= 2
    for width in (80, 160):
        lines = _list_at(width, home)
        assert max(len(line) for line in lines) <= width, "\n".join(lines)
        assert all(run["playbook"] in "".join(lines) for run in runs)
        if width >= 120:  # a table: the plans are in its last column
            lines = [line.split("│")[-2] for line in lines if line.startswith("│")]
        # Long paths fold at the edge, so compare without whitespace.
        text = "".join("".join(lines).split())
        for run in runs:
            # The plan's first sentence, whole (ranges like `a .. b` do not end it).
            first = run["summary"].split(". ")[0].split("; ")[0]
            assert "".join(first.split()) in text, (width, first)

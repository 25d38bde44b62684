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

"""How `warden runs list` lays runs out for a person: what each plan does comes first.

A run's plan summary is what a person approves, so the list leads with its first sentence
(`headline`) and never cuts it to a few characters:

- On a terminal at least `WIDE_COLUMNS` wide, one table row per run: id, incident, status,
  playbook, approval policy, plan hash, and the headline wrapped in the last column.
- On a narrower one (80 columns), one block per run: a line with the id, incident, status,
  playbook and approval policy, then the headline on its own lines below, indented. The
  plan hash and the rest of the summary are in `warden runs show RUN`.

Every cell is data, so it goes through `data_markup` (markup escaped, control characters
stripped) before Rich sees it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from daemon.cli.common import styled_status
from daemon.cli.safe_text import data_markup, data_text

#: The terminal width (columns) from which the list is a table with every column.
WIDE_COLUMNS = 120
#: The most characters of a summary's first sentence that the list shows.
HEADLINE_CHARS = 200
#: Where a summary's first sentence ends: a full stop or semicolon before a space, after
#: neither a space nor another full stop (so that a range `a .. b` does not end it).
_SENTENCE_END = re.compile(r"(?<![.\s])[.;]\s")
#: How far the headline of a block is indented under its run's line, in columns.
BLOCK_INDENT = 4


def headline(summary: str) -> str:
    """The first sentence of a plan summary (up to its first `. ` or `; `), at most
    `HEADLINE_CHARS` characters, with an ellipsis when anything was left out."""
    text = data_text(summary).strip()
    match = _SENTENCE_END.search(text)
    first = text[: match.start() + 1] if match else text
    if len(first) > HEADLINE_CHARS:
        first = first[: HEADLINE_CHARS - 1].rstrip() + "…"
    elif len(first) < len(text):
        first = first.rstrip(";") + " …"
    return first


def print_runs(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    """Print `rows` (as `runs list --json` has them) as a table or as blocks, by width."""
    if console.width >= WIDE_COLUMNS:
        console.print(_table(rows))
    else:
        _print_blocks(console, rows)


def _table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} run(s)")
    for header in ("id", "incident", "status", "playbook", "approval", "plan"):
        table.add_column(header, no_wrap=True)
    # A long path is one word: fold it at the edge rather than cut it to an ellipsis.
    table.add_column(
        "what it does (warden runs show RUN for the whole plan)", ratio=1, overflow="fold"
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            f"#{row['incident_id']}",
            styled_status(str(row["status"])),
            data_markup(row["playbook"]),
            data_markup(row["approval_policy"]),
            data_markup(data_text(row["plan_hash"])[:12]),
            data_markup(headline(str(row["summary"]))),
        )
    return table


def _print_blocks(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    console.print(f"[bold]{len(rows)} run(s)[/] (warden runs show RUN for the whole plan)")
    for row in rows:
        console.print(
            f"[bold]{row['id']}[/]  #{row['incident_id']}  "
            f"{styled_status(str(row['status']))}  {data_markup(row['playbook'])}  "
            f"({data_markup(row['approval_policy'])})"
        )
        console.print(Padding(Text(headline(str(row["summary"]))), (0, 0, 0, BLOCK_INDENT)))

"""Leaving quarantined windows out of a table's reads.

The quarantine playbook records, in the table's own database, the windows it excluded
(`warden_quarantine`, see `playbooks/sql_quarantine.py`). When that table exists, every
read of a dataset's table goes through an anti-join with the windows in force, so Warden
sees the table as the `<table>_clean` view shows it to everyone else.
"""

from __future__ import annotations

from typing import Any

from ibis.common.exceptions import TableNotFound
from ibis.expr.types import Table

#: The table, in each dataset's database, that records quarantined windows.
QUARANTINE_TABLE = "warden_quarantine"


def without_quarantined(connection: Any, expression: Table, table: str, time_column: str) -> Table:
    """`expression` minus the rows in windows quarantined for `table` and not released."""
    # `table()` rather than `list_tables()`: the latter breaks on DuckDB 2 with Ibis 12.
    try:
        windows = connection.table(QUARANTINE_TABLE)
    except TableNotFound:
        return expression
    active = windows.filter((windows.source_table == table) & windows.released_at.isnull())
    column = expression[time_column]
    if column.type().is_date():
        column = column.cast("timestamp")
    seconds = column.epoch_seconds()
    return expression.anti_join(active, [seconds >= active.start_epoch, seconds < active.end_epoch])

"""A cheap seeded pre-filter on event time, so that only a few rows of a big window are
content-hashed.

Hashing a row (`engine_rows.py`) builds the canonical text of every cell: seconds per
million rows. A sample of k rows out of N needs keys for only a little more than k rows, so
a window is thinned first by an integer key computed from the event time alone:

    key = ((micros mod P) * A + seed * B) mod P      P = 2^31 - 1, A = 48271, B = 16807

where `micros` is the event time in microseconds since 1970 (`engine_rows.epoch_micros`,
exact on every engine). A row passes at fraction f when `key < threshold(f)`, about a
share f of rows with distinct times. Integer arithmetic below 2^62 gives the same key on
DuckDB, PostgreSQL and Spark, so the same rows pass everywhere.

Identical rows share their event time, so they pass or fail together and keep the ids they
have in the whole window (the `-2`, `-3` numbering sees the same copies). Rows that share a
time pass or fail together too: where times repeat a lot, fewer (or more) rows than
expected pass, so callers check that enough passed and widen the fraction if not.

>>> threshold(0.5)
1073741824
>>> threshold(1.0) == MODULUS
True
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from playbooks.engine_rows import epoch_micros

#: The key's modulus, a prime: (x mod P) * A stays below 2^62.
MODULUS = 2_147_483_647
_MULTIPLIER = 48_271
_SEED_MULTIPLIER = 16_807


def prefilter_key(table: ir.Table, time_column: str, seed: int) -> ir.IntegerValue:
    """The pre-filter key of each row of `table`, in [0, MODULUS), from its event time
    (`time_column`, a timestamp) and `seed`."""
    micros = epoch_micros(table, time_column)
    salt = ibis.literal((seed * _SEED_MULTIPLIER) % MODULUS)
    return ((micros % MODULUS) * _MULTIPLIER + salt) % MODULUS  # type: ignore[no-any-return]


def threshold(fraction: float) -> int:
    """The bound a key must stay below for a row to pass at `fraction` (0..1): every key
    passes at 1."""
    return min(MODULUS, math.ceil(MODULUS * max(0.0, fraction)))

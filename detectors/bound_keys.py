"""Bound parameters as compiled queries key them: by name, or by their Ibis operation.

`detectors.query_plans` keeps a plan's sentinels, and writes each value's literal, by the
parameter's *key*: the name of one of the window bounds (`detectors.window_bounds`), which
every process gives alike and which needs no Ibis, or, for any other Ibis scalar parameter
a caller binds, its operation (such plans are kept in memory only). These helpers turn a
key into what the compiler needs (the parameter, its type) and what plans need (its type
as text, whether it is a timestamp and has a time zone, a sentinel value no data holds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detectors.window_bounds import BOUND_TYPES, is_aware

#: A bound parameter as plans keep it: its name (`detectors.window_bounds.BOUND_TYPES`), or
#: the Ibis operation of any other parameter (kept in memory only).
BoundKey = Any


def bound_key(parameter: Any) -> BoundKey:
    """A parameter as plans key it: a bound's name as given or found, else its operation."""
    if isinstance(parameter, str):
        if parameter not in BOUND_TYPES:
            raise ValueError(f"no bound parameter is named {parameter!r}")
        return parameter
    from detectors.profile_queries import parameter_name

    operation = parameter.op() if hasattr(parameter, "op") else parameter
    return parameter_name(operation) or operation


def parameter_of(key: BoundKey) -> Any:
    """The Ibis parameter expression of a bound key."""
    if isinstance(key, str):
        from detectors.profile_queries import NAMED_PARAMETERS

        return NAMED_PARAMETERS[key]
    return key.to_expr()


def dtype_of(key: BoundKey) -> Any:
    return parameter_of(key).type() if isinstance(key, str) else key.dtype


def type_text(key: BoundKey) -> str:
    return BOUND_TYPES[key] if isinstance(key, str) else str(key.dtype)


def timestamp_awareness(key: BoundKey) -> bool | None:
    """Whether the parameter is a timestamp with a time zone; None when not a timestamp."""
    if isinstance(key, str):
        return is_aware(key)
    dtype = key.dtype
    return (dtype.timezone is not None) if dtype.is_timestamp() else None


def sentinel(key: BoundKey, index: int) -> Any:
    """A value of the parameter's type that no data holds; None when the type has none."""
    aware = timestamp_awareness(key)
    if aware is None:
        return None
    moment = datetime(1901 + index, 2, 3, 4, 5, 6, 71829)
    return moment.replace(tzinfo=UTC) if aware else moment

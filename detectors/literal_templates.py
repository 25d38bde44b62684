"""An engine's timestamp literals written without Ibis, once Ibis has shown how.

A planned query (`detectors.query_plans`) is rerun with each window bound written as the
engine's literal, exactly as Ibis's compiler writes it. Asking the compiler for each new
value costs a compile (and, in a new process, importing the compilers); but each engine
writes a timestamp one way: `MAKE_TIMESTAMP(2025, 1, 2, 3, 4, 5.000006)` on DuckDB,
`CAST('2025-01-02T03:04:05.000006' AS TIMESTAMP)` on PostgreSQL and Spark. So the first
time a (engine, type) pair is seen, its literal is *learnt*: among a few known ways of
writing an instant (`RENDERERS`), the one that, between a fixed prefix and suffix, gives
exactly what the compiler wrote for each of `PROBES` is kept as a `LiteralTemplate`. The
probes differ in every field (year, zero and non-zero seconds and microseconds, single and
double digits), so a template that reproduces all of them writes any instant alike. When
no renderer does, nothing is learnt and the compiler writes every value, as before.

Templates are used for naive instants and instants in UTC only (window bounds always are);
any other value goes to the compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Ways engines' compilers write an instant inside their literal (name -> writer).
RENDERERS: dict[str, Callable[[datetime], str]] = {
    "iso": lambda moment: moment.isoformat(),
    "iso_space": lambda moment: moment.isoformat(sep=" "),
    # DuckDB: MAKE_TIMESTAMP(year, month, day, hour, minute, seconds as a float)
    "fields": lambda moment: (
        f"{moment.year}, {moment.month}, {moment.day}, {moment.hour}, {moment.minute}, "
        f"{moment.second + moment.microsecond / 1_000_000!r}"
    ),
}

#: Instants a template must reproduce exactly before it is used (naive; UTC added for
#: time-zone-aware types).
PROBES: tuple[datetime, ...] = (
    datetime(1901, 2, 3, 4, 5, 6, 71829),
    datetime(2024, 1, 1),
    datetime(2033, 11, 29, 23, 58, 57, 123456),
    datetime(1999, 12, 31, 10, 0, 30, 500000),
    datetime(2025, 7, 9, 0, 1, 0, 1),
)


@dataclass(frozen=True)
class LiteralTemplate:
    """How one engine writes literals of one timestamp type: prefix, instant, suffix."""

    renderer: str
    prefix: str
    suffix: str

    def render(self, value: Any) -> str | None:
        """`value`'s literal, or None when the template does not apply to it (not an
        instant, or one with a time zone other than UTC)."""
        if type(value) is not datetime:
            return None
        offset = value.utcoffset()
        if offset is not None and offset != timedelta(0):
            return None
        return self.prefix + RENDERERS[self.renderer](value) + self.suffix

    def to_record(self) -> dict[str, str]:
        return {"renderer": self.renderer, "prefix": self.prefix, "suffix": self.suffix}

    @classmethod
    def from_record(cls, record: Any) -> LiteralTemplate | None:
        """The template a record holds, or None for a damaged or unknown one."""
        if not isinstance(record, dict):
            return None
        renderer, prefix, suffix = (record.get(name) for name in ("renderer", "prefix", "suffix"))
        if not (isinstance(prefix, str) and isinstance(suffix, str)) or renderer not in RENDERERS:
            return None
        return cls(str(renderer), prefix, suffix)


def learn_template(
    compile_literal: Callable[[datetime], str], *, aware: bool
) -> LiteralTemplate | None:
    """The template that reproduces `compile_literal` (the compiler's literal of a value)
    on every probe, or None when no known renderer does."""
    probes = [p.replace(tzinfo=UTC) if aware else p for p in PROBES]
    compiled = [compile_literal(probe) for probe in probes]
    for name, writer in RENDERERS.items():
        written = writer(probes[0])
        if compiled[0].count(written) != 1:
            continue
        prefix, suffix = compiled[0].split(written)
        template = LiteralTemplate(name, prefix, suffix)
        if all(template.render(p) == c for p, c in zip(probes, compiled, strict=True)):
            return template
    return None

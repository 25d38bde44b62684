"""Timestamp literals written from a learnt template are exactly what each engine's Ibis
compiler writes (issue 17: a warm scan need not ask the compiler)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone

import ibis
import ibis.expr.datatypes as dt
import pytest
from ibis.backends.sql.compilers import DuckDBCompiler, PostgresCompiler, PySparkCompiler

from detectors.literal_templates import LiteralTemplate, learn_template

_LITERAL = re.compile(r"^SELECT\s+(?P<literal>.+?)\s+AS\s+[\"`]", re.DOTALL)
COMPILERS = {"duckdb": DuckDBCompiler, "postgres": PostgresCompiler, "pyspark": PySparkCompiler}


def _compiled(compiler: object, dtype: dt.DataType, value: datetime) -> str:
    expression = ibis.literal(value, type=dtype).as_table()
    sql = compiler.to_sqlglot(expression).sql(compiler.dialect)  # type: ignore[attr-defined]
    match = _LITERAL.match(sql)
    assert match is not None, sql
    return match.group("literal")


def _moments(count: int, aware: bool) -> list[datetime]:
    rng = random.Random(17)
    first = datetime(1950, 1, 1)
    moments = [
        first
        + timedelta(
            seconds=rng.randrange(0, 120 * 365 * 86400), microseconds=rng.randrange(0, 10**6)
        )
        for _ in range(count)
    ]
    moments += [m.replace(microsecond=0) for m in moments[:20]]  # whole seconds, too
    return [m.replace(tzinfo=UTC) if aware else m for m in moments]


@pytest.mark.parametrize("engine", sorted(COMPILERS))
@pytest.mark.parametrize("aware", [False, True], ids=["naive", "utc"])
def test_a_learnt_template_writes_what_the_compiler_writes(engine: str, aware: bool) -> None:
    compiler = COMPILERS[engine]()
    dtype = dt.Timestamp(timezone="UTC") if aware else dt.Timestamp()
    template = learn_template(lambda v: _compiled(compiler, dtype, v), aware=aware)
    assert template is not None
    for moment in _moments(300, aware):
        assert template.render(moment) == _compiled(compiler, dtype, moment)


def test_no_template_is_learnt_when_no_known_way_writes_the_probes() -> None:
    # a compiler that writes epoch seconds: none of the known renderers matches
    assert learn_template(lambda v: f"TO_TIMESTAMP({v.timestamp()})", aware=True) is None
    # a renderer that matches the first probe only is not kept
    seen: list[datetime] = []

    def first_only(value: datetime) -> str:
        seen.append(value)
        return f"'{value.isoformat()}'" if len(seen) == 1 else "'x'"

    assert learn_template(first_only, aware=False) is None


def test_a_template_leaves_other_values_to_the_compiler() -> None:
    template = LiteralTemplate("iso", "CAST('", "' AS TIMESTAMP)")
    paris = timezone(timedelta(hours=1))
    assert template.render(datetime(2025, 1, 1, tzinfo=paris)) is None
    assert template.render("2025-01-01") is None
    assert template.render(datetime(2025, 1, 1)) == "CAST('2025-01-01T00:00:00' AS TIMESTAMP)"
    assert LiteralTemplate.from_record({"renderer": "nope", "prefix": "", "suffix": ""}) is None
    assert LiteralTemplate.from_record(template.to_record()) == template

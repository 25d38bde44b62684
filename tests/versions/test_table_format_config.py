"""The config of Delta and Iceberg datasets: what each takes, and the errors a person reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from daemon.config.models import DatasetConfig


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "delta"}, "a delta dataset takes `path` (the table's folder) only"),
        (
            {"format": "delta", "path": "t/", "table": "x"},
            "a delta dataset takes `path` (the table's folder) only",
        ),
        ({"format": "iceberg", "table": "ns.t"}, "an iceberg dataset needs `catalog: {uri: ...}`"),
        (
            {"format": "iceberg", "catalog": {"uri": "sqlite:///c.db"}},
            "an iceberg dataset needs `catalog: {uri: ...}` and `table`",
        ),
        (
            {"format": "iceberg", "catalog": {"uri": "sqlite:///c.db"}, "table": "t", "path": "p"},
            "takes `catalog` and `table`, not `path`/`url`",
        ),
        (
            {"format": "parquet", "path": "p", "catalog": {"uri": "sqlite:///c.db"}},
            "`catalog` is for iceberg datasets only",
        ),
        (
            {"format": "iceberg", "catalog": {"uri": "sqlite:///c.db", "name": ""}, "table": "t"},
            "at least 1 character",
        ),
    ],
)
def test_bad_table_format_configs_are_explained(fields, message):
    with pytest.raises(ValidationError) as raised:
        DatasetConfig.model_validate({"time_column": "ts", **fields})
    assert message in str(raised.value)


def test_good_table_format_configs_load():
    delta = DatasetConfig.model_validate({"format": "delta", "path": "t/", "time_column": "ts"})
    iceberg = DatasetConfig.model_validate(
        {
            "format": "iceberg",
            "catalog": {"uri": "sqlite:///c.db"},
            "table": "ns.t",
            "time_column": "ts",
        }
    )
    assert delta.is_versioned_table and iceberg.is_versioned_table
    assert iceberg.catalog is not None and iceberg.catalog.name == "default"

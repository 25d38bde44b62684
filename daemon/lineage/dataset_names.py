"""The OpenLineage name of each configured dataset (namespace and name), following the
OpenLineage dataset naming conventions where they define one, so that events of other
jobs (a training run reading the same files or table) name the same dataset the same way.

- files, Parquet and CSV folders, Delta tables, Spark paths: namespace ``file``, name the
  absolute path (no trailing slash); an URI path (``s3a://bucket/x``) as it is;
- PostgreSQL: namespace ``postgres://host:port``, name ``database.schema.table``;
- DuckDB: namespace ``duckdb://<database file>``, name the table;
- Iceberg: namespace ``iceberg://<catalog name>``, name the table (namespace.table);
- Spark catalog tables: namespace ``spark``, name the table.

>>> from daemon.config.models import DatasetConfig
>>> lineage_name(DatasetConfig(format="postgres", url="postgresql://u:p@db:5433/shop",
...     table="orders", time_column="ts"))
('postgres://db:5433', 'shop.public.orders')
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from daemon.config.models import DatasetConfig


def lineage_name(dataset: DatasetConfig) -> tuple[str, str]:
    """(namespace, name) of `dataset` in OpenLineage events."""
    if dataset.path is not None:
        if "://" in dataset.path and not dataset.path.startswith("file://"):
            scheme, _, rest = dataset.path.partition("://")
            bucket, _, key = rest.partition("/")
            return f"{scheme}://{bucket}", "/" + key.rstrip("/")
        return "file", path_name(dataset.path)
    table = dataset.table or ""
    if dataset.format == "postgres" and dataset.url:
        parts = urlsplit(dataset.url.replace("postgresql+psycopg://", "postgresql://"))
        database = parts.path.lstrip("/") or "postgres"
        schema, _, name = table.rpartition(".")
        port = parts.port or 5432
        return f"postgres://{parts.hostname}:{port}", f"{database}.{schema or 'public'}.{name}"
    if dataset.format == "duckdb" and dataset.url:
        return f"duckdb://{path_name(dataset.url.removeprefix('duckdb://'))}", table
    if dataset.format == "iceberg" and dataset.catalog is not None:
        return f"iceberg://{dataset.catalog.name}", table
    return "spark", table


def path_name(path: str) -> str:
    """An absolute, normalised path without a trailing slash (a `file://` URI's path)."""
    return os.path.normpath(os.path.abspath(path.removeprefix("file://")))

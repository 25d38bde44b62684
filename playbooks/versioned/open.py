"""The versioned table behind a dataset location (`base.VersionedTable`)."""

from __future__ import annotations

from playbooks.base import DatasetLocation, PlanRefused
from playbooks.versioned.base import VersionedTable


def versioned_table(dataset: DatasetLocation) -> VersionedTable:
    """The Delta or Iceberg table of `dataset`; PlanRefused for any other format."""
    if dataset.format == "delta":
        from playbooks.versioned.delta_table import DeltaVersionedTable

        return DeltaVersionedTable(dataset.path)
    if dataset.format == "iceberg":
        from playbooks.versioned.iceberg_table import IcebergVersionedTable

        return IcebergVersionedTable(
            dataset.name,
            catalog_uri=dataset.url,
            catalog_name=dataset.catalog_name,
            table=dataset.table,
        )
    raise PlanRefused(
        f"dataset {dataset.name!r} is a {dataset.format} dataset, which has no versions of "
        "its own (Delta Lake and Iceberg tables do)"
    )

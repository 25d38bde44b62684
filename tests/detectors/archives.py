"""A `detectors.plan_records.PlanArchive` in a dict, for tests of what archives keep (the
store's own archive is tested in tests/scan/test_plan_archive.py)."""

from __future__ import annotations

from typing import Any


class DictArchive:
    """Records by group and id, as the store keeps them; `replace` empties the group."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def load(self, identity_id: str) -> dict[str, Any]:
        return dict(self.records.get(identity_id, {}))

    def save(
        self, identity_id: str, plan_id: str, record: dict[str, Any], *, replace: bool = False
    ) -> None:
        group = self.records.setdefault(identity_id, {})
        if replace:
            group.clear()
        group[plan_id] = record

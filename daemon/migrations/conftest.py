"""Keep pytest's --doctest-modules from importing env.py, which only runs inside Alembic."""

from __future__ import annotations

collect_ignore = ["env.py"]

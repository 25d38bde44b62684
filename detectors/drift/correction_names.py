"""The names of the multiple-testing corrections (see `correction.py` for what they do)."""

from __future__ import annotations

from typing import Literal

Correction = Literal["bh", "bonferroni", "none"]

"""Make values that come from the data safe to store as JSON, and bounded in size.

Two rules:

- `sanitize_json`, applied by `daemon.store.types.JSONType` to every value written to a
  column of that type (every JSON column but the audit payload, which is plain JSON on
  PostgreSQL, takes any text and is kept exactly as hashed): in every string, keys
  included, at any depth, each C0 control character other than tab, newline and carriage
  return (U+0000 to U+001F but U+0009, U+000A, U+000D) becomes the visible six-character
  escape ``\\u00XX`` (a backslash, ``u`` and four lowercase hex digits: NUL becomes the
  text ``\\u0000``), and each lone surrogate (U+D800 to U+DFFF, which file names decoded
  with ``surrogateescape`` carry) becomes U+FFFD. PostgreSQL refuses NUL and lone
  surrogates in JSONB and NUL in text columns, so a value from the data would otherwise make
  the write fail. The rule is idempotent (its output holds none of the characters it
  replaces).
- `bounded_json` (applied to what a scan records: evidence, the scan result, the report):
  `sanitize_json`, then every string and key longer than `MAX_STORED_STRING` characters keeps
  its first `MAX_STORED_STRING` characters followed by `` … (truncated, N characters)``, N
  being the original length, and non-finite floats (NaN, infinities) become null, which JSON
  can hold and PostgreSQL accepts.

Both return their argument itself, not a copy, when nothing needed to change. Keys that
become equal after either rule keep the value of the last one (in the mapping's order).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

#: Characters kept in a string at most, keys included (`bounded_json`).
MAX_STORED_STRING = 2000

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    if character >= "\ud800":
        return _REPLACEMENT
    return f"\\u{ord(character):04x}"


def is_safe_text(text: str) -> bool:
    """True when `sanitize_text` would leave `text` as it is.

    >>> is_safe_text("a\\tb"), is_safe_text("a\\x00b")
    (True, False)
    """
    return _UNSAFE.search(text) is None


def sanitize_text(text: str) -> str:
    """`text` with control characters escaped and lone surrogates replaced (module docstring).

    >>> sanitize_text("a\\x00b\\tc\\x1b")
    'a\\\\u0000b\\tc\\\\u001b'
    >>> sanitize_text("name\\udcff") == "name\\ufffd"
    True
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def cap_text(text: str, limit: int = MAX_STORED_STRING) -> str:
    """`text` cut to `limit` characters plus a marker that gives its length, when longer.

    >>> cap_text("abcdef", limit=3)
    'abc… (truncated, 6 characters)'
    >>> cap_text("abc", limit=3)
    'abc'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (truncated, {len(text)} characters)"


def sanitize_json(value: Any) -> Any:
    """`value` with `sanitize_text` applied to every string and key, at any depth.

    >>> sanitize_json({"k\\x00": ["v\\x00", 1.5, None]})
    {'k\\\\u0000': ['v\\\\u0000', 1.5, None]}
    """
    return _walk(value, sanitize_text, finite=False)


def bounded_json(value: Any, limit: int = MAX_STORED_STRING) -> Any:
    """`value` sanitised, its strings and keys capped at `limit` characters and its
    non-finite floats made null: fit to be stored as evidence and shown to a person.

    >>> bounded_json({"x" * 5: "a\\x00" * 3, "p": float("nan")}, limit=4)
    {'xxxx… (truncated, 5 characters)': 'a\\\\u0… (truncated, 21 characters)', 'p': None}
    """

    def clean(text: str) -> str:
        return cap_text(sanitize_text(text), limit)

    return _walk(value, clean, finite=True)


def _walk(value: Any, clean: Callable[[str], str], *, finite: bool) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        return None if finite and not math.isfinite(value) else value
    if isinstance(value, Mapping):
        changed = False
        result: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = clean(key) if isinstance(key, str) else key
            new_item = _walk(item, clean, finite=finite)
            changed = changed or new_key is not key or new_item is not item
            result[new_key] = new_item
        return result if changed or len(result) != len(value) else value
    if isinstance(value, list | tuple):
        items = [_walk(item, clean, finite=finite) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return value

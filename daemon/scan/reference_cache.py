"""Reference profiles, computed once and cached in the store.

The cache key is a hash of the dataset, the window, the columns, the profile options, the
profile schema version and the window's content signature (row count and time range, see
`DatasetSource.window_signature`), so new or quarantined rows in the reference window miss
the cache instead of serving a stale profile. A scheduled scan then reads only the current
window plus one cheap count over the reference range.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from daemon.scan.windows import Window
from daemon.store.engine import Store
from daemon.store.json_safety import sanitize_json
from daemon.store.models import ReferenceProfile
from detectors.profile import PROFILE_SCHEMA_VERSION, WindowProfile
from detectors.profiling import ProfileOptions
from detectors.sources.base import DatasetSource


def cache_key(
    source: DatasetSource, window: Window, columns: Sequence[str], options: ProfileOptions
) -> tuple[str, str]:
    """(cache key, source fingerprint) of a reference profile."""
    fingerprint = source.window_signature(window.start, window.end)
    payload = {
        "window": window.to_dict(),
        "columns": sorted(columns),
        "options": asdict(options),
        "schema_version": PROFILE_SCHEMA_VERSION,
        "source": fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(), fingerprint


def reference_profile(
    store: Store,
    source: DatasetSource,
    window: Window,
    columns: Sequence[str],
    options: ProfileOptions,
    *,
    refresh: bool = False,
) -> tuple[WindowProfile, bool]:
    """The reference profile and whether it came from the cache (the store's, or the one the
    source remembers while its data is unchanged: `DatasetSource.recall`)."""
    key, fingerprint = cache_key(source, window, columns, options)
    if not refresh:
        remembered = source.recall(("reference", key))
        if remembered is not None:
            return remembered, True
    # Read-only: on SQLite a writable session would take the write lock just to look.
    with store.session(readonly=True) as session:
        cached = session.exec(
            select(ReferenceProfile).where(ReferenceProfile.cache_key == key)
        ).first()
        if cached is not None and not refresh:
            try:
                profile = WindowProfile.from_dict(cached.profile)
                source.remember(("reference", key), profile)
                return profile, True
            except (ValueError, KeyError, TypeError):
                pass  # an older or damaged entry: recompute and replace it below
    profile = source.profile(window.start, window.end, columns, options=options)
    # another scan may cache the same reference at the same moment; theirs is equal
    with contextlib.suppress(IntegrityError):
        _save(store, key, fingerprint, window, profile)
    # Kept as the store keeps it (text sanitised), as a later scan reads it back.
    source.remember(("reference", key), WindowProfile.from_dict(sanitize_json(profile.to_dict())))
    return profile, False


def _save(store: Store, key: str, fingerprint: str, window: Window, profile: WindowProfile) -> None:
    with store.session() as session:
        existing = session.exec(
            select(ReferenceProfile).where(ReferenceProfile.cache_key == key)
        ).first()
        if existing is None:
            session.add(
                ReferenceProfile(
                    cache_key=key,
                    dataset=window.dataset,
                    window_start=window.start,
                    window_end=window.end,
                    source_fingerprint=fingerprint,
                    schema_version=PROFILE_SCHEMA_VERSION,
                    profile=profile.to_dict(),
                )
            )
        else:
            existing.profile = profile.to_dict()
            session.add(existing)

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
import threading
from collections.abc import Iterator, Sequence
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
        cached = _cached(store, source, key)
        if cached is not None:
            return cached, True
    # Scans of one dataset starting together (a daemon's tick) would all compute the same
    # missing reference: the first computes it, the others wait and read what it saved.
    with _computing(key):
        cached = None if refresh else _cached(store, source, key)
        if cached is not None:
            return cached, True
        profile = source.profile(window.start, window.end, columns, options=options)
        # another process may cache the same reference at the same moment; theirs is equal
        with contextlib.suppress(IntegrityError):
            _save(store, key, fingerprint, window, profile)
    # Kept as the store keeps it (text sanitised), as a later scan reads it back.
    source.remember(("reference", key), WindowProfile.from_dict(sanitize_json(profile.to_dict())))
    return profile, False


def _cached(store: Store, source: DatasetSource, key: str) -> WindowProfile | None:
    """The profile the store caches under `key` (then remembered by `source`), or None
    when it has none or an older or damaged one (recomputed and replaced then)."""
    # Read-only: on SQLite a writable session would take the write lock just to look.
    with store.session(readonly=True) as session:
        cached = session.exec(
            select(ReferenceProfile).where(ReferenceProfile.cache_key == key)
        ).first()
        if cached is None:
            return None
        try:
            profile = WindowProfile.from_dict(cached.profile)
        except (ValueError, KeyError, TypeError):
            return None
    source.remember(("reference", key), profile)
    return profile


#: Cache keys being computed in this process -> (their lock, how many scans hold or await it).
_IN_FLIGHT: dict[str, tuple[threading.Lock, int]] = {}
_IN_FLIGHT_LOCK = threading.Lock()


@contextlib.contextmanager
def _computing(key: str) -> Iterator[None]:
    """Held by one scan of this process at a time per cache key."""
    with _IN_FLIGHT_LOCK:
        lock, holders = _IN_FLIGHT.get(key, (threading.Lock(), 0))
        _IN_FLIGHT[key] = (lock, holders + 1)
    try:
        with lock:
            yield
    finally:
        with _IN_FLIGHT_LOCK:
            lock, holders = _IN_FLIGHT[key]
            if holders == 1:
                del _IN_FLIGHT[key]
            else:
                _IN_FLIGHT[key] = (lock, holders - 1)


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

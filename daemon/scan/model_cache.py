"""Fitted reference models (multivariate PCA, classifier samples), cached in the store
beside the reference profiles they derive from.

A model is kept in the `reference_profile` table under its own key: a hash of the
reference profile's cache key (which changes when the reference window's rows change) and
of everything the fit depends on (`parts`). A damaged or older record is refitted; two
processes fitting the same model at once both keep the first one saved (they are equal).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from daemon.scan.windows import Window
from daemon.store.engine import Store
from daemon.store.models import ReferenceProfile


def model_key(kind: str, profile_key: str, *parts: Any) -> str:
    payload = json.dumps([kind, profile_key, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_model(
    store: Store,
    key: str,
    window: Window,
    *,
    schema_version: int,
    fit: Callable[[], dict[str, Any]],
    read: Callable[[dict[str, Any]], Any],
    refresh: bool = False,
) -> tuple[Any, bool]:
    """(`read(record)`, whether it came from the store): the record kept under `key`, or
    `fit()`'s, saved for the next scans."""
    if not refresh:
        with store.session(readonly=True) as session:
            kept = session.exec(
                select(ReferenceProfile).where(ReferenceProfile.cache_key == key)
            ).first()
            record = kept.profile if kept is not None else None
            version = kept.schema_version if kept is not None else None
        if record is not None and version == schema_version:
            try:
                return read(record), True
            except (ValueError, KeyError, TypeError):
                pass  # damaged or of another shape: fitted again below
    record = fit()
    model = read(record)
    with contextlib.suppress(IntegrityError), store.session() as session:
        existing = session.exec(
            select(ReferenceProfile).where(ReferenceProfile.cache_key == key)
        ).first()
        if existing is None:
            existing = ReferenceProfile(
                cache_key=key,
                dataset=window.dataset,
                window_start=window.start,
                window_end=window.end,
                source_fingerprint=key,
                schema_version=schema_version,
                profile=record,
            )
        else:
            existing.profile = record
            existing.schema_version = schema_version
        session.add(existing)
    return model, False

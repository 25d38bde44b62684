"""A work_root belongs to one store.

Warden's work_root holds what its playbooks write (quarantined files and their manifests,
label batches, synthetic partitions), named by incident id. Incident ids are a store's own:
two stores sharing a work_root (a SQLite store kept beside the PostgreSQL one that replaced
it, say) would overwrite each other's quarantine manifests, and a release would then move
the wrong files. So the first store to use a work_root writes its identity
(`store_identity.store_id`, migration 0008) into `<work_root>/.warden-store`, and every
later use checks it: another store's work_root is refused with what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from daemon.store.engine import Store
from daemon.store.models import StoreIdentity
from playbooks.files import write_durably

#: The file, in a work_root, that names the store owning it.
OWNER_FILE = ".warden-store"


class WorkRootOwned(RuntimeError):
    """The work_root belongs to another store (or cannot be written); nothing was written."""


def store_id(store: Store) -> str:
    """The store's own id (made by migration 0008)."""
    with store.session(readonly=True) as session:
        identity = session.exec(select(StoreIdentity)).first()
    if identity is None:
        raise RuntimeError("the store has no identity row; run `warden migrate`")
    return identity.store_id


def claim_work_root(store: Store, work_root: str | Path) -> None:
    """Mark `work_root` as this store's (creating it), or refuse (WorkRootOwned) one that
    another store owns. Called before anything is written into it: a run's apply, a
    release."""
    root = Path(work_root)
    owner_file = root / OWNER_FILE
    mine = store_id(store)
    url = store.url.render_as_string(hide_password=True)
    if owner_file.exists():
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise WorkRootOwned(
                f"{owner_file} is unreadable ({error}); it names the store that owns "
                f"{root}: restore it, or point playbooks.work_root at a folder of its own"
            ) from error
        if owner.get("store_id") == mine:
            return
        raise WorkRootOwned(
            f"playbooks.work_root {root} belongs to another Warden store "
            f"({owner.get('store_url', 'unknown')}, id {owner.get('store_id')}); this store "
            f"({url}) would overwrite its quarantine manifests, whose incident ids collide "
            "with this store's. Give this config a work_root of its own, or, if the other "
            "store is gone for good, move that folder aside first"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkRootOwned(
            f"playbooks.work_root {root} cannot be created ({error.strerror}); give Warden "
            "a writable folder (in the container image, mount a volume at /var/lib/warden)"
        ) from error
    write_durably(owner_file, json.dumps({"store_id": mine, "store_url": url}, indent=2) + "\n")

"""Who claimed a row: the `claimed_by` of scans, playbook runs and proposal requests.

A daemon's (or a planning CLI's) identity is `host:pid:token`; other claimants are plain
names (`cli`, `api:alice`). `Claimant.died_here` tells, without waiting for a heartbeat,
that a claimant that ran on this host is gone.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass


def new_identity() -> str:
    """`host:pid:token`: unique per process life, readable in `claimed_by` columns."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Claimant:
    """The parts of an identity; `host` and `pid` are None for `cli`, `api:...` and others."""

    identity: str
    host: str | None
    pid: int | None

    @classmethod
    def parse(cls, identity: str) -> Claimant:
        parts = identity.split(":")
        if len(parts) == 3 and parts[1].isdigit():
            return cls(identity, parts[0], int(parts[1]))
        return cls(identity, None, None)

    def died_here(self) -> bool:
        """True when this claimant ran on this host and its process is provably gone.

        Never ask about your own identity: the same pid counts as an earlier life."""
        if self.host != socket.gethostname() or self.pid is None:
            return False
        if self.pid == os.getpid():
            return True  # an earlier life of this process (identities differ by token)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # running, as another user
        return False

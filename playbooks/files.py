"""Safe file moves for playbooks: copy, check, then remove the original; never delete data.

`move_file` is idempotent and crash-safe: the copy goes to a `.partial` file that is fsynced
and renamed into place, its sha256 is checked against the one the plan recorded, and only
then is the original removed. A crash at any point leaves the file in one place or both,
never in none; running the same move again finishes it. A move never overwrites: a
destination that exists with other content is refused, and the copy is linked into place
(`os.link`), which fails rather than replace a file created meanwhile. Symbolic links are
refused: moving a link's target could reach outside the dataset. A failed copy (a full
disk) removes its `.partial` file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

#: Bytes read at a time when hashing or copying.
BLOCK = 1 << 20


class MoveRefused(RuntimeError):
    """A move that would lose or corrupt data; nothing was changed."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def move_file(source: Path, destination: Path, expected_sha256: str) -> str:
    """Move `source` to `destination`, checking the content is `expected_sha256`.

    Returns what was done: `moved`, or `already moved` when only the destination exists and
    is intact. Raises `MoveRefused` when the source has changed since it was planned, when
    neither copy exists, or when the copy does not match.
    """
    source_exists, destination_exists = source.exists(), destination.exists()
    if not source_exists:
        if destination_exists and sha256_of(destination) == expected_sha256:
            return "already moved"
        raise MoveRefused(
            f"{source} is gone and {destination} "
            + ("does not match the plan" if destination_exists else "does not exist")
        )
    if source.is_symlink():
        raise MoveRefused(
            f"{source} is a symbolic link; Warden moves files, never links or their targets"
        )
    if sha256_of(source) != expected_sha256:
        raise MoveRefused(f"{source} changed since the plan was made; plan again")
    if destination_exists or destination.is_symlink():
        if destination.is_symlink() or sha256_of(destination) != expected_sha256:
            raise MoveRefused(
                f"{destination} already exists and holds something else; Warden never "
                "overwrites a file: move it aside and run again"
            )
    else:
        _copy_durably(source, destination)
        if sha256_of(destination) != expected_sha256:
            raise MoveRefused(f"the copy at {destination} does not match {source}")
    source.unlink()
    _fsync_folder(source.parent)
    return "moved"


def write_durably(path: Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8) to `path` atomically: a fsynced temporary file
    renamed into place, so a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not leave half a file behind
        raise
    _fsync_folder(path.parent)


def _copy_durably(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    try:
        with open(source, "rb") as reader, open(partial, "wb") as writer:
            shutil.copyfileobj(reader, writer, BLOCK)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(source, partial)
        _place_without_overwriting(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not leave half a copy behind
        raise
    partial.unlink()
    _fsync_folder(destination.parent)


def _place_without_overwriting(partial: Path, destination: Path) -> None:
    """Give `partial`'s content the name `destination`, refusing if that name is taken:
    a hard link fails on an existing name, atomically, where `rename` would replace it."""
    try:
        os.link(partial, destination)
    except FileExistsError as error:
        raise MoveRefused(
            f"{destination} appeared while it was being copied; Warden never overwrites a file"
        ) from error
    except OSError as error:  # a file system without hard links: check, then rename
        if destination.exists() or destination.is_symlink():
            raise MoveRefused(
                f"{destination} already exists; Warden never overwrites a file"
            ) from error
        partial.replace(destination)


def _fsync_folder(folder: Path) -> None:
    """Make a rename or removal in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

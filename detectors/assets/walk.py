"""The files of an asset dataset: a folder or a glob, walked without leaving its root.

A dataset's `path` is a folder (every file below it, at any depth) or a glob (`*` and `?`
within one path segment, `**` across segments, `[...]` a character class), whose root is
its longest leading part without wildcards. Hidden files and folders (a name starting with
`.`) are skipped.

The walk never follows a symbolic link: a link whose target resolves inside the root is
reported as a `symlink` problem (the target is walked on its own if it is under the root),
one that leads outside as `symlink_outside_root`, a dangling one as `broken_symlink`. A
folder that cannot be listed (`unreadable_folder`) or an entry that is not a regular file
(a FIFO, a socket, a device: `not_a_regular_file`) is a problem, not an error: the rest of
the dataset is still walked. Only a root that is missing or is not a folder is an error
(`SourceError`), since then nothing can be checked at all.

>>> pattern_regex("photos/**/*.jpg").pattern
'^photos/(?:.*/)?[^/]*\\\\.jpg$'
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from detectors.sources.errors import SourceError

#: What a path must match to be walked below a glob's root, by segment.
_WILDCARDS = ("*", "?", "[")


@dataclass(frozen=True, order=True)
class FoundFile:
    """A regular file under the root: `path` relative to it (POSIX separators), its size in
    bytes, modification time in nanoseconds since the epoch and inode number, from one
    `lstat` (a change to any of them means the file changed; the last two as signed 64-bit
    integers, `signed64`)."""

    path: str
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True, order=True)
class WalkProblem:
    """An entry the walk could not take as a file: `path` relative to the root, `reason`
    one of `unreadable_folder`, `broken_symlink`, `symlink`, `symlink_outside_root`,
    `not_a_regular_file`, `undecodable_name`, and `detail` in words."""

    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Walk:
    root: Path
    files: tuple[FoundFile, ...]
    problems: tuple[WalkProblem, ...]


def split_pattern(path: str) -> tuple[Path, str | None]:
    """(root folder, pattern relative to it or None) of a dataset `path`."""
    parts = Path(path).parts
    fixed = []
    for part in parts:
        if any(mark in part for mark in _WILDCARDS):
            break
        fixed.append(part)
    if len(fixed) == len(parts):
        return Path(path), None
    root = Path(*fixed) if fixed else Path(".")
    return root, "/".join(parts[len(fixed) :])


def folder_filter(pattern: str | None) -> Callable[[str], bool]:
    """Whether a folder (its path relative to the root, `a/b`) can hold a match of
    `pattern`: each of its names must match the pattern's segment at that depth, until a
    `**` segment, below which anything can. The walk enters no other folder (a pattern
    `*/img/*.jpg` under /mnt does not list all of /mnt).

    >>> can_hold = folder_filter("cam*/img/*.jpg")
    >>> can_hold("cam1"), can_hold("cam1/img"), can_hold("other"), can_hold("cam1/img/x")
    (True, True, False, False)
    """
    if pattern is None:
        return lambda folder: True
    parts = pattern.split("/")
    # The last segment names files, unless it is `**`, which reaches any depth.
    segments = parts if "**" in parts[-1] else parts[:-1]
    tests = [None if "**" in segment else pattern_regex(segment).match for segment in segments]

    def can_hold(folder: str) -> bool:
        for depth, name in enumerate(folder.split("/")):
            if depth >= len(tests):
                return False
            test = tests[depth]
            if test is None:  # a `**` segment: anything below may match
                return True
            if not test(name):
                return False
        return True

    return can_hold


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex matching relative POSIX paths against a glob `pattern`."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index + 2 :]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1 : end]
            negated = body.startswith("!")
            body = re.escape(body[1:] if negated else body).replace("\\-", "-")
            # A negated class never matches the separator, as in a shell.
            out.append(f"[^/{body}]" if negated else f"[{body}]")
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("^" + "".join(out) + "$")


def walk_assets(path: str) -> Walk:
    """Every file (and every problem) the dataset `path` names, sorted by path."""
    root, pattern = split_pattern(path)
    try:
        # The root may itself be a link (a mount point, a configured path): it is the
        # config's choice, so it is followed once; nothing below it is.
        mode = os.stat(root).st_mode
    except OSError as error:
        raise SourceError(
            f"asset folder {str(root)!r} cannot be read: {error}", key="path"
        ) from error
    if not stat.S_ISDIR(mode):
        raise SourceError(f"asset path {str(root)!r} is not a folder", key="path")
    matches = pattern_regex(pattern).match if pattern else None
    files: list[FoundFile] = []
    problems: list[WalkProblem] = []
    real_root = os.path.realpath(root)
    for relative, entry in _entries(root, "", problems, folder_filter(pattern)):
        if matches is not None and not matches(relative):
            continue
        found = _classify(entry, relative, real_root, problems)
        if found is not None:
            files.append(found)
    return Walk(root, tuple(sorted(files)), tuple(sorted(problems)))


def _entries(
    folder: Path, prefix: str, problems: list[WalkProblem], can_hold: Callable[[str], bool]
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(relative path, entry) of every non-hidden entry below `folder`; folders are entered
    only when they are real folders (never through a link) that `can_hold` a match (so a
    folder the pattern could not reach is neither listed nor reported), with a stack rather than
    recursion, so no depth of nesting can exhaust Python's stack. A name that is not valid
    UTF-8 cannot be stored or shown faithfully: it is a problem (`undecodable_name`)."""
    stack = [(folder, prefix)]
    while stack:
        current, current_prefix = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
        except OSError as error:
            where = current_prefix.rstrip("/") or "."
            problems.append(WalkProblem(where, "unreadable_folder", str(error)))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = current_prefix + entry.name
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(relative).decode("utf-8", "backslashreplace")
                problems.append(
                    WalkProblem(shown, "undecodable_name", "the name is not valid UTF-8")
                )
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                if can_hold(relative):
                    stack.append((Path(entry.path), relative + "/"))
            else:
                yield relative, entry


def _classify(
    entry: os.DirEntry[str], relative: str, real_root: str, problems: list[WalkProblem]
) -> FoundFile | None:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError as error:  # removed since the listing, or no permission to stat
        problems.append(WalkProblem(relative, "not_a_regular_file", str(error)))
        return None
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(entry.path)
        if not os.path.exists(target):
            problems.append(WalkProblem(relative, "broken_symlink", "the link's target is gone"))
        elif os.path.commonpath([real_root, target]) != real_root:
            problems.append(
                WalkProblem(
                    relative,
                    "symlink_outside_root",
                    "the link leads outside the dataset's folder; it is not followed",
                )
            )
        else:
            problems.append(
                WalkProblem(relative, "symlink", "a link inside the dataset; it is not followed")
            )
        return None
    if not stat.S_ISREG(info.st_mode):
        problems.append(
            WalkProblem(relative, "not_a_regular_file", "a FIFO, socket or device, not read")
        )
        return None
    return FoundFile(relative, info.st_size, signed64(info.st_mtime_ns), signed64(info.st_ino))


def signed64(value: int) -> int:
    """`value` as a signed 64-bit integer (two's complement), as the store keeps it: a
    modification time after 2262 or an inode above 2^63 (some network file systems) would
    not fit a BIGINT otherwise. Only compared for equality, so the wrap loses nothing."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value

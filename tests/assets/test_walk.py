"""The walk of an asset folder or glob: files with their identity, problems as problems, and
never a step outside the dataset's root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from detectors.assets.walk import split_pattern, walk_assets
from detectors.sources.errors import SourceError


def _tree(root: Path) -> None:
    for name in ("a/1.jpg", "a/b/2.png", "3.jpg", ".hidden/4.jpg", "a/.5.jpg", "notes.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())


def test_a_folder_gives_every_visible_file_with_size_time_and_inode(tmp_path: Path):
    _tree(tmp_path)
    walk = walk_assets(str(tmp_path))
    assert [f.path for f in walk.files] == ["3.jpg", "a/1.jpg", "a/b/2.png", "notes.txt"]
    first = walk.files[1]
    info = os.lstat(tmp_path / "a/1.jpg")
    assert (first.size, first.mtime_ns, first.inode) == (7, info.st_mtime_ns, info.st_ino)
    assert walk.problems == ()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.jpg", ["3.jpg"]),
        ("**/*.jpg", ["3.jpg", "a/1.jpg"]),
        ("a/**", ["1.jpg", "b/2.png"]),  # relative to the root, a/
        ("a/?.jpg", ["1.jpg"]),
        ("**/[0-2].*", ["a/1.jpg", "a/b/2.png"]),
    ],
)
def test_a_glob_matches_by_path_segment(tmp_path: Path, pattern: str, expected: list[str]):
    _tree(tmp_path)
    walk = walk_assets(f"{tmp_path}/{pattern}")
    assert [f.path for f in walk.files] == expected


def test_split_pattern_finds_the_root_before_the_first_wildcard():
    assert split_pattern("data/photos/") == (Path("data/photos"), None)
    assert split_pattern("data/photos/**/*.jpg") == (Path("data/photos"), "**/*.jpg")
    assert split_pattern("*.png") == (Path("."), "*.png")


def test_links_are_never_followed_and_each_kind_is_reported(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    _tree(root)
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    os.symlink(outside / "secret.jpg", root / "leak.jpg")
    os.symlink(outside, root / "leakdir")
    os.symlink(root / "3.jpg", root / "alias.jpg")
    os.symlink(root / "gone.jpg", root / "dangling.jpg")
    os.mkfifo(root / "pipe.jpg")
    walk = walk_assets(str(root))
    assert [f.path for f in walk.files] == ["3.jpg", "a/1.jpg", "a/b/2.png", "notes.txt"]
    reasons = {problem.path: problem.reason for problem in walk.problems}
    assert reasons == {
        "leak.jpg": "symlink_outside_root",
        "leakdir": "symlink_outside_root",
        "alias.jpg": "symlink",
        "dangling.jpg": "broken_symlink",
        "pipe.jpg": "not_a_regular_file",
    }


def test_a_missing_root_or_a_file_root_is_an_error(tmp_path: Path):
    with pytest.raises(SourceError, match="cannot be read"):
        walk_assets(str(tmp_path / "nowhere"))
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(SourceError, match="not a folder"):
        walk_assets(str(tmp_path / "file.jpg"))


def test_names_that_are_not_utf8_deep_folders_and_a_linked_root(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.jpg").write_bytes(b"x")
    with open(os.path.join(os.fsencode(root), b"bad\xff.png"), "wb") as handle:
        handle.write(b"x")
    deep = root / ("d/" * 300)
    deep.mkdir(parents=True)
    (deep / "bottom.jpg").write_bytes(b"x")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(150)  # folders nested deeper than the walk could recurse
    try:
        walk = walk_assets(str(root))
    finally:
        sys.setrecursionlimit(limit)
    assert [f.path for f in walk.files] == ["d/" * 300 + "bottom.jpg", "ok.jpg"]
    assert [(p.path, p.reason) for p in walk.problems] == [("bad\\xff.png", "undecodable_name")]
    # A root that is itself a link (a mount point, say) is the config's choice: followed.
    os.symlink(root, tmp_path / "linked")
    assert len(walk_assets(str(tmp_path / "linked")).files) == 2


def test_a_negated_class_never_matches_the_separator(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_bytes(b"x")
    (tmp_path / "a_b").write_bytes(b"x")
    assert [f.path for f in walk_assets(f"{tmp_path}/a[!x]b").files] == ["a_b"]


def test_times_and_inodes_beyond_63_bits_are_kept_as_signed_integers(tmp_path: Path):
    from detectors.assets.walk import signed64

    assert signed64(2**64 - 1) == -1 and signed64(2**63) == -(2**63) and signed64(5) == 5
    (tmp_path / "future.jpg").write_bytes(b"x")
    far = 2**63 + 12_345  # nanoseconds: the year 2262 and later
    os.utime(tmp_path / "future.jpg", ns=(far, far))
    (found,) = walk_assets(str(tmp_path)).files
    stored = os.lstat(tmp_path / "future.jpg").st_mtime_ns  # what the file system kept
    assert found.mtime_ns == signed64(stored) and -(2**63) <= found.mtime_ns < 2**63


def test_a_glob_enters_only_folders_that_can_hold_a_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in ("cam1/img/a.jpg", "cam1/raw/b.jpg", "cam2/img/c.jpg", "other/img/d.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    listed: list[str] = []
    real_scandir = os.scandir

    def counting(path):  # type: ignore[no-untyped-def]
        listed.append(os.path.relpath(path, tmp_path))
        return real_scandir(path)

    monkeypatch.setattr("detectors.assets.walk.os.scandir", counting)
    walk = walk_assets(f"{tmp_path}/cam*/img/*.jpg")
    assert [f.path for f in walk.files] == ["cam1/img/a.jpg", "cam2/img/c.jpg"]
    assert sorted(listed) == [".", "cam1", "cam1/img", "cam2", "cam2/img"]

"""The walk of an asset folder or glob: files with their identity, problems as problems, and
never a step outside the dataset's root."""

from __future__ import annotations

import os
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

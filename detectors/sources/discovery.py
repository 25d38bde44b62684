"""Which files a dataset path names: a file, a glob, or a folder (light: no engine imports)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Literal

from detectors.sources.errors import SourceError

FileFormat = Literal["parquet", "csv"]
_SUFFIXES = {"parquet": (".parquet", ".parq", ".pq"), "csv": (".csv", ".csv.gz", ".tsv")}


def discover_files(path: str, file_format: FileFormat) -> list[str]:
    """Every data file that `path` names: the file itself, a glob's matches, or a folder's
    files of that format at any depth (hidden files and folders are skipped)."""
    target = Path(path)
    if target.is_file():
        return [str(target.resolve())]
    if target.is_dir():
        found = [
            str(candidate.resolve())
            for candidate in sorted(target.rglob("*"))
            if candidate.is_file()
            and candidate.name.endswith(_SUFFIXES[file_format])
            and not any(part.startswith((".", "_")) for part in candidate.relative_to(target).parts)
        ]
        if not found:
            raise SourceError(
                f"folder {path!r} holds no {file_format} files "
                f"(looked for {', '.join(_SUFFIXES[file_format])})",
                key="path",
            )
        return found
    if glob.has_magic(path):
        matches = sorted(
            str(Path(m).resolve()) for m in glob.glob(path, recursive=True) if os.path.isfile(m)
        )
        if not matches:
            raise SourceError(f"no file matches the pattern {path!r}", key="path")
        return matches
    raise SourceError(
        f"dataset path {path!r} does not exist (a file, a glob or a folder is expected)",
        key="path",
    )

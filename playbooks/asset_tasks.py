"""Label Studio tasks that point at asset files instead of carrying a row's values.

A task of a files dataset names its file the way Label Studio's Local Files storage serves
it: `/data/local-files/?d=<path>`, the path relative to the server's document root
(`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`, `label_studio.document_root` in Warden's
config, `/` by default) and URL-encoded. The data key is the file's kind, `image` or
`audio` (what a labelling config's `$image` or `$audio` reads), else `file`.

>>> local_files_url("/data/photos/date=2025-06-01/a b.jpg", "/data")
'/data/local-files/?d=photos/date%3D2025-06-01/a%20b.jpg'
"""

from __future__ import annotations

import os
from urllib.parse import quote

from playbooks.base import PlanRefused

#: The data key of a task by the file's kind.
DATA_KEYS = {"image": "image", "audio": "audio"}


def local_files_url(path: str, document_root: str) -> str:
    """The URL Label Studio serves `path` (absolute) at, below `document_root`."""
    path, root = os.path.normpath(path), os.path.normpath(document_root)
    if os.path.commonpath([path, root]) != root:
        raise PlanRefused(
            f"{path} is not below Label Studio's document root {root}; set "
            "label_studio.document_root to a folder that holds the dataset"
        )
    return "/data/local-files/?d=" + quote(os.path.relpath(path, root), safe="/")


def file_reference(
    root: str, relative: str, kind: str | None, document_root: str
) -> dict[str, str]:
    """The task data naming the file `relative` (to the dataset's `root`)."""
    path = os.path.join(os.path.realpath(root), relative)
    return {DATA_KEYS.get(kind or "", "file"): local_files_url(path, document_root)}

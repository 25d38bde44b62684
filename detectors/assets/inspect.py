"""One asset file read, hashed and decoded: what a scan records about it (`AssetFacts`).

Runs in a worker process (`pool.py`), so that a hostile file costs at most that worker.

Reading: the file is opened without following a link (`O_NOFOLLOW`) and without blocking
(`O_NONBLOCK`: a FIFO put in place of a file would block a plain open forever), must still
be the regular file the walk saw (same inode), at most `Limits.max_bytes` long; its bytes
are read once, hashed (sha256) and decoded from memory, so the hash and the decode see the
same content. A file whose size or modification time changed while it was read is
`unreadable` with reason `changed_during_scan` (the next scan reads it again).

Decoding, by the extension's kind:

- images (`IMAGE_FORMATS`): Pillow opens the bytes trying only those formats; a format other
  than the extension's is `corrupt` (`type_mismatch`: a PNG named `.jpg`, an HTML error page
  named `.png` fails to open at all: `not_an_image`). The header's pixel count is checked
  before any pixel is allocated (`Limits.max_pixels`; above it: `decompression_bomb`), then
  every pixel is decoded (`load()`: a truncated file fails there, where `verify()` would
  pass it; JPEGs decode at reduced scale, which still reads all of the data). Silent bit
  flips inside lossy JPEG or WebP data often decode without error and are not detected.
- audio (`AUDIO_EXTENSIONS`), with the `audio` extra (soundfile): the header gives the
  sample rate and duration, and every frame is decoded in blocks.
- anything else: size and sha256 only. An empty file of any kind is `corrupt` (`empty`).

Properties of an image, measured on a grey version of at most `THUMBNAIL` pixels a side
(`METRICS_VERSION` names this choice; drift compares records of one version only):
`brightness` the mean grey level in [0, 1], `p99` the 99th percentile grey level in [0, 1],
`blur` the variance of the 4-neighbour Laplacian of the grey levels (0-255 scale; low means
blurry), `width` and `height` in pixels as stored (before EXIF rotation), `aspect` their
ratio. Perceptual hashes: 64-bit pHash and dHash (ImageHash) as signed 64-bit integers, the
way SQLite and PostgreSQL store them.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import stat
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from detectors.assets.walk import FoundFile, signed64

#: Extension (lower case) -> the Pillow format its content must have.
IMAGE_FORMATS = {
    ".bmp": "BMP",
    ".gif": "GIF",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"})
#: Largest side, in pixels, of the grey image properties and hashes are measured on.
THUMBNAIL = 256
#: Version of the property measurements; records of another version are not compared.
METRICS_VERSION = 1
#: Frames decoded at a time when an audio file is checked.
AUDIO_BLOCK = 65_536
#: Test-only fault injection, `hang:<path>` or `kill:<path>` (a path relative to the root):
#: the worker that reaches that file waits forever, as a decoder stuck on a hostile file
#: would, or kills itself (SIGKILL), as the OOM killer would. Unset outside tests.
FAULT_VARIABLE = "WARDEN_TEST_ASSET_FAULT"

Status = Literal["ok", "corrupt", "unreadable"]


@dataclass(frozen=True)
class Limits:
    """What one file may cost: `max_bytes` read (larger files are `unreadable`, reason
    `too_large`), `max_pixels` decoded (an image whose header claims more is `corrupt`,
    reason `decompression_bomb`)."""

    max_bytes: int = 512 * 1024 * 1024
    max_pixels: int = 89_478_485  # Pillow's own default bomb limit (~ 0.25 GB of RGBA)


@dataclass(frozen=True)
class AssetFacts:
    """What a scan records about one file. `status` is `ok`, `corrupt` (the content is
    broken: `reason` says how) or `unreadable` (the file could not be read as it was:
    permission, too large, changed during the scan). Measurements are None where they do
    not apply (not an image, not decoded)."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    status: Status
    reason: str | None = None
    detail: str | None = None
    sha256: str | None = None
    kind: str = "other"
    format: str | None = None
    width: int | None = None
    height: int | None = None
    aspect: float | None = None
    brightness: float | None = None
    p99: float | None = None
    blur: float | None = None
    phash: int | None = None
    dhash: int | None = None
    duration_seconds: float | None = None
    sample_rate: int | None = None
    metrics_version: int = METRICS_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Problem(Exception):
    """Why a file is not `ok`: `reason` (a short code) and `detail` (in words)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Broken(_Problem):
    """The content is corrupt."""


class _Unreadable(_Problem):
    """The file could not be read as it was."""


def inspect_file(root: str, found: FoundFile, limits: Limits) -> AssetFacts:
    """Read, hash and decode `found` (a file the walk saw under `root`)."""
    _fault_if_asked(found.path)
    base: dict[str, Any] = {
        "path": found.path,
        "size": found.size,
        "mtime_ns": found.mtime_ns,
        "inode": found.inode,
    }
    try:
        data = _read(Path(root) / found.path, found, limits)
    except _Unreadable as error:
        return AssetFacts(**base, status="unreadable", reason=error.reason, detail=error.detail)
    digest = hashlib.sha256(data).hexdigest()
    suffix = Path(found.path).suffix.lower()
    kind = "other"
    if suffix in IMAGE_FORMATS:
        kind = "image"
    elif suffix in AUDIO_EXTENSIONS:
        kind = "audio"
    facts: dict[str, Any] = {**base, "sha256": digest, "kind": kind}
    try:
        if not data:
            raise _Broken("empty", "the file is empty")
        if kind == "image":
            facts.update(_image_facts(data, IMAGE_FORMATS[suffix], limits))
        elif kind == "audio":
            facts.update(_audio_facts(data))
    except _Broken as broken:
        return AssetFacts(**facts, status="corrupt", reason=broken.reason, detail=broken.detail)
    return AssetFacts(**facts, status="ok")


def _fault_if_asked(path: str) -> None:
    fault = os.environ.get(FAULT_VARIABLE)
    if not fault:
        return
    action, _, target = fault.partition(":")
    if target != path:
        return
    if action == "hang":
        threading.Event().wait()
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)


def _read(path: Path, found: FoundFile, limits: Limits) -> bytes:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except PermissionError as error:
        raise _Unreadable("permission_denied", str(error)) from error
    except OSError as error:  # gone, or replaced by a link since the walk
        raise _Unreadable("changed_during_scan", str(error)) from error
    try:
        before = os.fstat(descriptor)
        if not stat.S_ISREG(before.st_mode) or signed64(before.st_ino) != found.inode:
            raise _Unreadable("changed_during_scan", "the path names another file than walked")
        if before.st_size > limits.max_bytes:
            raise _Unreadable(
                "too_large",
                f"{before.st_size:,} bytes, more than max_file_bytes ({limits.max_bytes:,})",
            )
        chunks = []
        left = limits.max_bytes + 1
        while left > 0 and (chunk := os.read(descriptor, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        after = os.fstat(descriptor)
    except OSError as error:
        raise _Unreadable("permission_denied", str(error)) from error
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    unchanged = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
    unchanged = unchanged and signed64(after.st_mtime_ns) == found.mtime_ns
    if not unchanged or len(data) != after.st_size or after.st_size != found.size:
        raise _Unreadable("changed_during_scan", "the file changed while it was read")
    return data


def _image_facts(data: bytes, expected: str, limits: Limits) -> dict[str, Any]:
    from detectors.assets.image_measures import measure_image, open_image

    with warnings.catch_warnings():
        image = open_image(data, limits.max_pixels, _Broken)
        # A phone's multi-picture JPEG opens as MPO: still the JPEG its extension says.
        if image.format != expected and (expected, image.format) != ("JPEG", "MPO"):
            raise _Broken(
                "type_mismatch",
                f"the content is {image.format}, not the {expected} its extension says",
            )
        return measure_image(image, _Broken)


def _audio_facts(data: bytes) -> dict[str, Any]:
    try:
        import soundfile
    except ImportError:  # the `audio` extra is not installed: size and hash only
        return {}
    try:
        info = soundfile.info(io.BytesIO(data))
        for _block in soundfile.blocks(io.BytesIO(data), blocksize=AUDIO_BLOCK):
            pass
    except Exception as error:  # libsndfile raises several kinds
        raise _Broken("undecodable", f"the audio does not decode: {error}") from error
    return {
        "format": str(info.format),
        "duration_seconds": float(info.duration),
        "sample_rate": int(info.samplerate),
    }

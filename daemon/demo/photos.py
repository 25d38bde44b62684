"""The demo's image dataset: a few seeded pictures a day, and three injected problems.

Drawn by the demo itself (numpy and Pillow; no download): `PER_DAY` distinct JPEG pictures
in each daily hive folder (`date=YYYY-MM-DD/`) of the replayed days, and on the last day

- a JPEG cut in half (`corrupt_asset`),
- a byte copy of an earlier picture (`duplicate_asset`),
- a smaller, re-encoded copy of another (`near_duplicate_asset`).

The copies are written last and given a later modification time, so they, not the
originals, are the copies a quarantine moves. Needs the `assets` extra (Pillow, ImageHash);
`available()` says whether it is installed.
"""

from __future__ import annotations

import importlib.util
import io
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

PER_DAY = 3
SIZE = (256, 192)
SEED = 20250201


@dataclass(frozen=True)
class DemoPhotos:
    folder: Path
    files: int
    cut: str
    copy: str
    near_copy: str


def available() -> bool:
    """Whether the image libraries (the `assets` extra) are installed."""
    return all(importlib.util.find_spec(name) for name in ("PIL", "imagehash"))


def picture(seed: int) -> Any:
    """A seeded picture: random waves of the 8x8 lowest frequencies per channel, and discs."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = SIZE
    frequencies = np.arange(8)
    waves_y = np.exp(1j * np.pi * np.outer(np.arange(height) / height, frequencies))
    waves_x = np.exp(1j * np.pi * np.outer(np.arange(width) / width, frequencies))
    falloff = 1 + frequencies[:, None] + frequencies[None, :]
    pixels = np.zeros((height, width, 3))
    for channel in range(3):
        weights = rng.normal(0, 1, (8, 8)) / falloff * np.exp(1j * rng.uniform(0, 6.3, (8, 8)))
        pixels[:, :, channel] = 128 + 45 * (waves_y @ weights @ waves_x.T).real
    ys, xs = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    for _ in range(rng.integers(2, 6)):
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        pixels[(xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(image: Any, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def generate_photos(folder: Path, first: date, last: date) -> DemoPhotos:
    """Pictures for every day from `first` to `last`, the problems on `last`."""
    day, number, written = first, 0, 0
    while day <= last:
        target = folder / f"date={day.isoformat()}"
        target.mkdir(parents=True, exist_ok=True)
        for _ in range(PER_DAY):
            (target / f"photo-{number:03d}.jpg").write_bytes(_jpeg(picture(SEED + number)))
            number += 1
            written += 1
        day += timedelta(days=1)
    last_folder = folder / f"date={last.isoformat()}"
    earlier = folder / f"date={first.isoformat()}"
    cut = _jpeg(picture(SEED + 10_000))
    injected = {
        "upload-cut.jpg": cut[: len(cut) // 2],
        "photo-000-copy.jpg": (earlier / "photo-000.jpg").read_bytes(),
        "photo-001-small.jpg": _jpeg(picture(SEED + 1).resize((192, 144)), quality=70),
    }
    latest = max(p.stat().st_mtime_ns for p in folder.rglob("*.jpg"))
    for offset, (name, content) in enumerate(injected.items(), start=1):
        path = last_folder / name
        path.write_bytes(content)
        later = latest + offset * 1_000_000_000  # after every original, whatever the clock
        os.utime(path, ns=(later, later))
    relative = {name: f"date={last.isoformat()}/{name}" for name in injected}
    return DemoPhotos(
        folder,
        written + len(injected),
        cut=relative["upload-cut.jpg"],
        copy=relative["photo-000-copy.jpg"],
        near_copy=relative["photo-001-small.jpg"],
    )

"""Images the asset tests draw themselves: seeded scenes and their altered copies.

A scene is a smooth background gradient with a few filled rectangles and discs of seeded
colours, so that two scenes of different seeds differ in structure (what a perceptual hash
sees), not only in noise.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance


def scene(seed: int, size: tuple[int, int] = (192, 144)) -> Image.Image:
    """A seeded RGB scene of `size` (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height + 1) / 2
    base = rng.uniform(40, 215, 3)
    pixels = base[None, None, :] * (0.6 + 0.8 * ramp[:, :, None])
    for _ in range(rng.integers(3, 7)):
        colour = rng.uniform(0, 255, 3)
        x0, y0 = rng.integers(0, width * 3 // 4), rng.integers(0, height * 3 // 4)
        w, h = rng.integers(width // 8, width // 2), rng.integers(height // 8, height // 2)
        if rng.random() < 0.5:
            pixels[y0 : y0 + h, x0 : x0 + w] = colour
        else:
            radius = min(w, h) / 2
            disc = (xs - x0 - radius) ** 2 + (ys - y0 - radius) ** 2 <= radius**2
            pixels[disc] = colour
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def resized(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    return image.resize((max(1, int(width * factor)), max(1, int(height * factor))))


def brightened(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)

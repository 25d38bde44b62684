"""Opening image bytes with Pillow under limits, and measuring the decoded image (see
`inspect.py` for what each measure means). Imported only where an image is decoded: Pillow,
numpy and ImageHash come with the `assets` extra."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

from detectors.assets.inspect import IMAGE_FORMATS, THUMBNAIL
from detectors.assets.walk import signed64

try:
    import imagehash
    from PIL import Image, ImageFile
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise ImportError(
        "asset datasets need the `assets` extra: pip install 'warden[assets]' "
        f"({missing.name} is missing)"
    ) from missing

#: Every format an asset image may be, tried in this order when a file is opened.
FORMATS = tuple(dict.fromkeys(IMAGE_FORMATS.values()))


def open_image(data: bytes, max_pixels: int, broken: Any) -> Image.Image:
    """`data` opened as one of FORMATS, its pixel count checked, every pixel decoded; raises
    `broken(reason, detail)` when it is not an image, too large, or does not decode."""
    # Some ML libraries set this process-wide; a truncated file must fail here.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise broken("decompression_bomb", str(error)) from error
    except MemoryError:
        raise  # the worker's memory limit, not the file's fault (the pool reports it)
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError...
        raise broken("not_an_image", f"no image format recognises the content: {error}") from error
    width, height = image.size
    if width * height > max_pixels:
        raise broken(
            "decompression_bomb", f"{width}x{height} pixels, more than max_pixels ({max_pixels:,})"
        )
    try:
        if image.format == "JPEG":
            # Decode at 1/2 to 1/8 scale: all of the data is still read (a cut file fails).
            image.draft("L", (THUMBNAIL, THUMBNAIL))
        image.load()
    except MemoryError:
        raise
    except Exception as error:  # truncation, bad chunks, codec errors
        raise broken("undecodable", f"the image does not decode: {error}") from error
    image.info["warden_size"] = (width, height)  # the stored size, before draft scaling
    return image


def measure_image(image: Image.Image, broken: Any) -> dict[str, Any]:
    """Format, size and the grey-level measures and hashes of a decoded image."""
    width, height = image.info.get("warden_size", image.size)
    try:
        grey = _grey(image)
    except MemoryError:
        raise
    except Exception as error:  # an unusual mode Pillow cannot convert
        raise broken("undecodable", f"the image cannot be converted to grey: {error}") from error
    levels = np.asarray(grey, dtype=np.float64)
    laplacian = (
        levels[1:-1, :-2] + levels[1:-1, 2:] + levels[:-2, 1:-1] + levels[2:, 1:-1]
    ) - 4 * levels[1:-1, 1:-1]
    return {
        "format": image.format,
        "width": int(width),
        "height": int(height),
        "aspect": float(width) / float(height) if height else None,
        "brightness": float(levels.mean() / 255.0),
        "p99": float(np.percentile(levels, 99) / 255.0),
        "blur": float(laplacian.var()) if laplacian.size else 0.0,
        "phash": hash_value(imagehash.phash(grey)),
        "dhash": hash_value(imagehash.dhash(grey)),
    }


def hash_value(image_hash: Any) -> int:
    """A 64-bit ImageHash as the signed 64-bit integer the store keeps (`walk.signed64`)."""
    return signed64(int(str(image_hash), 16))


def _grey(image: Image.Image) -> Image.Image:
    """A grey (mode L) copy of the first frame, at most THUMBNAIL pixels a side. Deep modes
    (16-bit, 32-bit integer or float) are scaled to 0-255 over their own range, where
    `convert("L")` would clip them."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        grey = Image.fromarray(scaled.astype(np.uint8))  # 2-D uint8: mode L
    else:
        transparent = image.mode == "P" and "transparency" in image.info
        if image.mode in ("RGBA", "LA", "PA") or transparent:
            image = image.convert("RGBA")
        grey = image.convert("L")
    grey.thumbnail((THUMBNAIL, THUMBNAIL))
    return grey

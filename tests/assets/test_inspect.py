"""One file inspected: what decodes is measured and hashed, what does not is `corrupt` with the
reason, on images the tests draw (`scenes.py`)."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.assets.image_measures import hash_value
from detectors.assets.inspect import Limits, inspect_file
from detectors.assets.walk import walk_assets
from tests.assets.scenes import brightened, encoded, resized, scene


def _facts(root: Path, name: str, data: bytes, limits: Limits | None = None):
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)
    found = next(f for f in walk_assets(str(root)).files if f.path == name)
    return inspect_file(str(root), found, limits or Limits())


def test_a_good_jpeg_and_png_are_measured_and_hashed(tmp_path: Path):
    picture = scene(1, (200, 100))
    jpeg = encoded(picture, "JPEG", quality=90)
    facts = _facts(tmp_path, "a/one.jpg", jpeg)
    assert facts.status == "ok" and facts.reason is None
    assert facts.sha256 == hashlib.sha256(jpeg).hexdigest() and facts.size == len(jpeg)
    assert (facts.kind, facts.format, facts.width, facts.height) == ("image", "JPEG", 200, 100)
    assert facts.aspect == 2.0
    grey = np.asarray(picture.convert("L"), dtype=float)
    # Measured on a reduced JPEG decode, so close to (not equal to) the full image's mean.
    assert facts.brightness == pytest.approx(grey.mean() / 255, abs=0.02)
    assert 0 <= facts.brightness <= facts.p99 <= 1 and facts.blur > 0
    assert facts.phash is not None and -(2**63) <= facts.phash < 2**63
    png = _facts(tmp_path, "two.png", encoded(picture, "PNG"))
    assert (png.status, png.format, png.width, png.height) == ("ok", "PNG", 200, 100)
    # The same picture in two encodings: perceptually (almost) the same.
    assert bin((facts.phash ^ png.phash) & (2**64 - 1)).count("1") <= 4


def test_a_blurred_copy_has_a_lower_blur_measure_and_a_dark_one_a_lower_brightness(
    tmp_path: Path,
):
    from PIL import ImageFilter

    picture = scene(2)
    sharp = _facts(tmp_path, "sharp.png", encoded(picture, "PNG"))
    soft = _facts(tmp_path, "soft.png", encoded(picture.filter(ImageFilter.GaussianBlur(3)), "PNG"))
    dark = _facts(tmp_path, "dark.png", encoded(brightened(picture, 0.4), "PNG"))
    assert soft.blur < sharp.blur / 3
    assert dark.brightness < sharp.brightness * 0.5


@pytest.mark.parametrize(
    ("name", "damage", "reason"),
    [
        ("empty.jpg", lambda good: b"", "empty"),
        ("cut.jpg", lambda good: good[: len(good) // 2], "undecodable"),
        ("page.png", lambda good: b"<html><body>502 Bad Gateway</body></html>", "not_an_image"),
        ("renamed.jpg", lambda good: encoded(scene(3), "PNG"), "type_mismatch"),
        ("cut.png", lambda good: encoded(scene(3), "PNG")[:-200], "undecodable"),
    ],
)
def test_broken_files_are_corrupt_with_their_reason(tmp_path: Path, name, damage, reason):
    good = encoded(scene(3), "JPEG", quality=85)
    facts = _facts(tmp_path, name, damage(good))
    assert (facts.status, facts.reason) == ("corrupt", reason), facts.detail
    assert facts.sha256 is not None  # a corrupt file is still hashed (its duplicates count)


def test_a_png_bomb_is_refused_from_its_header_before_any_pixel_is_decoded(tmp_path: Path):
    """A PNG whose header claims 100,000 x 100,000 pixels (40 GB of RGBA) over a few bytes of
    data: refused from the header, not by running out of memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + checksum

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    bomb += chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    facts = _facts(tmp_path, "bomb.png", bomb)
    assert (facts.status, facts.reason) == ("corrupt", "decompression_bomb")
    # A configured limit applies the same way to an ordinary image above it.
    small_limit = _facts(tmp_path, "big.png", encoded(scene(4), "PNG"), Limits(max_pixels=10_000))
    assert (small_limit.status, small_limit.reason) == ("corrupt", "decompression_bomb")


def test_a_file_over_the_byte_limit_is_not_read(tmp_path: Path):
    facts = _facts(tmp_path, "big.bin", b"x" * 5000, Limits(max_bytes=4096))
    assert (facts.status, facts.reason, facts.sha256) == ("unreadable", "too_large", None)


def test_a_file_replaced_after_the_walk_is_not_taken_for_the_walked_one(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(encoded(scene(5), "PNG"))
    found = walk_assets(str(tmp_path)).files[0]
    os.replace(tmp_path / "a.png", tmp_path / "old.png")
    (tmp_path / "a.png").write_bytes(encoded(scene(6), "PNG"))  # another inode
    facts = inspect_file(str(tmp_path), found, Limits())
    assert (facts.status, facts.reason) == ("unreadable", "changed_during_scan")


def test_other_files_are_hashed_only(tmp_path: Path):
    facts = _facts(tmp_path, "notes.txt", b"hello")
    assert (facts.status, facts.kind, facts.format, facts.phash) == ("ok", "other", None, None)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path):
    ramp = (np.linspace(0, 1, 128 * 96).reshape(96, 128) * 4000).astype(np.uint16)
    image = Image.fromarray(ramp)  # I;16, values up to 4000 of 65535
    facts = _facts(tmp_path, "deep.png", encoded(image, "PNG"))
    assert facts.status == "ok"
    # Scaled over its own range: mid-grey on average (clipping would make it nearly white).
    assert facts.brightness == pytest.approx(0.5, abs=0.05)


def test_near_copies_hash_close_and_distinct_scenes_hash_far(tmp_path: Path):
    originals = [scene(seed) for seed in range(40)]
    hashes = [
        _facts(tmp_path, f"o{seed}.png", encoded(picture, "PNG")).phash
        for seed, picture in enumerate(originals)
    ]
    copies = {
        "q30": lambda p: encoded(p, "JPEG", quality=30),
        "half": lambda p: encoded(resized(p, 0.5), "PNG"),
        "bright": lambda p: encoded(brightened(p, 1.15), "PNG"),
    }
    for seed in range(10):
        for label, make in copies.items():
            suffix = "jpg" if label == "q30" else "png"
            copy = _facts(tmp_path, f"c{seed}-{label}.{suffix}", make(originals[seed])).phash
            assert _distance(copy, hashes[seed]) <= 10, (seed, label)
    apart = [_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(apart) > 10


def test_hash_values_keep_the_high_bit_as_the_sign():
    class Hash:
        def __init__(self, text: str) -> None:
            self.text = text

        def __str__(self) -> str:
            return self.text

    assert hash_value(Hash("ffffffffffffffff")) == -1
    assert hash_value(Hash("7fffffffffffffff")) == 2**63 - 1
    assert hash_value(Hash("8000000000000000")) == -(2**63)


def _distance(a: int | None, b: int | None) -> int:
    assert a is not None and b is not None
    return bin((a ^ b) & (2**64 - 1)).count("1")


def test_a_multi_picture_jpeg_from_a_camera_is_a_jpeg(tmp_path: Path):
    import io

    buffer = io.BytesIO()
    scene(7).save(buffer, "MPO", save_all=True, append_images=[scene(8)])
    facts = _facts(tmp_path, "camera.jpg", buffer.getvalue())
    assert (facts.status, facts.format) == ("ok", "MPO")

"""Parameters of the asset monitor (`kind: assets`): thresholds and per-file limits."""

from __future__ import annotations

from pydantic import Field

from detectors.params import StrictModel


class AssetParams(StrictModel):
    """What counts as a near copy, and what one file may cost to check."""

    near_duplicate_distance: int = Field(
        10,
        ge=0,
        le=20,
        description="Two images are near copies when their 64-bit pHashes differ in at most "
        "this many bits (10, imagededup's default: re-encoding and resizing measured up to 6, "
        "brightness changes up to 12; crops, rotations and flips are not caught).",
    )
    near_duplicate_confirm: int = Field(
        12,
        ge=0,
        le=32,
        description="...and their dHashes in at most this many bits (a second opinion that "
        "keeps chance pHash matches out).",
    )
    max_file_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Files larger than this many bytes are not read (reported unreadable).",
    )
    max_pixels: int = Field(
        89_478_485,
        ge=1,
        description="Images whose header claims more pixels are corrupt (decompression_bomb), "
        "refused before any pixel is decoded.",
    )
    workers: int = Field(
        0, ge=0, le=64, description="Decoding processes (0: the machine's cores, at most 4)."
    )
    seconds_per_file: float = Field(
        60.0,
        ge=1,
        description="A file that takes longer to check is reported unreadable (and read again "
        "at the next scan).",
    )
    worker_memory_mb: int = Field(
        2048, ge=256, description="Address space each decoding process may use, in MB."
    )

"""Types shared by the decoder plugins: the decoded ``Clip``, input limits and the plugin protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from app.errors import InputTooLarge


@dataclass(frozen=True)
class Calibration:
    """Physical pixel size. Non-square pixels are kept as they are."""

    mm_per_px_x: float
    mm_per_px_y: float
    source: str


@dataclass(frozen=True)
class SourceInfo:
    """Facts about how the input was encoded. Never holds patient identifiers."""

    format: str  # "png", "jpeg", "bmp", "tiff", "array"
    colour: str  # colour model as stored: "RGB", "RGBA", "grey", ...
    bit_depth: int = 8
    vendor: str | None = None


@dataclass(frozen=True, eq=False)
class Clip:
    """Decoded input.

    Attributes:
        frames: ``(N, H, W, 3) uint8`` RGB, N >= 1.
        name: base name for reports (no directories).
        fps: frames per second, when the format states it.
        calibration: mm per pixel, when the format states it reliably.
        source: how the input was encoded.
    """

    frames: np.ndarray
    name: str
    source: SourceInfo
    fps: float | None = None
    calibration: Calibration | None = None
    frame_times_ms: tuple[float, ...] | None = field(default=None, repr=False)

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


@dataclass(frozen=True)
class Limits:
    """Bounds checked from headers before any pixel data is decoded."""

    max_bytes: int
    max_frame_pixels: int
    max_frames: int
    max_total_pixels: int

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise InputTooLarge(
                f"input is {size} bytes, above the limit of {self.max_bytes} bytes "
                "(raise NEOVASC_MAX_UPLOAD_BYTES to accept it)"
            )

    def check_geometry(self, frames: int, height: int, width: int) -> None:
        if height * width > self.max_frame_pixels:
            raise InputTooLarge(
                f"frame is {width}x{height} = {width * height} pixels, above the limit of "
                f"{self.max_frame_pixels} (NEOVASC_MAX_FRAME_PIXELS)"
            )
        if frames > self.max_frames:
            raise InputTooLarge(f"input has {frames} frames, above the limit of {self.max_frames}")
        if frames * height * width > self.max_total_pixels:
            raise InputTooLarge(
                f"input holds {frames * height * width} pixels in all, above the limit of "
                f"{self.max_total_pixels} (NEOVASC_MAX_TOTAL_PIXELS)"
            )


class Decoder(Protocol):
    """A format plugin. ``accepts`` sniffs the first bytes; ``decode`` raises named errors only."""

    name: str

    def unavailable_reason(self) -> str | None:
        """None when the plugin's optional dependencies are importable, else why not."""

    def accepts(self, head: bytes) -> bool:
        """Whether ``head`` (the first 512 bytes or fewer) looks like this plugin's format."""

    def decode(self, data: bytes, name: str, limits: Limits) -> Clip:
        """Decode a whole input held in memory."""

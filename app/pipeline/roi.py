"""User-drawn regions of interest: a rectangle ``x0,y0,x1,y1`` or a mask image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import InvalidROI, NeovascError
from app.pipeline.decode import Limits, decode
from app.pipeline.geometry import Rect
from app.pipeline.tendon import Hint

_RECT = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$")
_POINT = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*$")
MAX_POINTS = 16


@dataclass(frozen=True, eq=False)
class RoiSpec:
    """A rectangle (half-open pixel bounds, x0 <= x < x1, y0 <= y < y1) or an ``(H, W) bool`` mask."""

    rect: Rect | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.rect is None) == (self.mask is None):
            raise InvalidROI("give exactly one of a rectangle or a mask as the region of interest")

    @property
    def kind(self) -> str:
        return "rectangle" if self.rect is not None else "mask"

    @classmethod
    def from_text(cls, text: str) -> RoiSpec:
        """Parse ``"x0,y0,x1,y1"`` (integers, pixels, x1 > x0 and y1 > y0)."""
        match = _RECT.match(text or "")
        if match is None:
            raise InvalidROI(f"ROI {text[:40]!r} is not 'x0,y0,x1,y1' (four integers in pixels, e.g. 10,10,200,120)")
        x0, y0, x1, y1 = (int(v) for v in match.groups())
        if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
            raise InvalidROI(f"ROI {x0},{y0},{x1},{y1} is empty or negative; need 0 <= x0 < x1 and 0 <= y0 < y1")
        return cls(rect=(x0, y0, x1, y1))

    @classmethod
    def from_mask_image(cls, source: bytes | Path, limits: Limits) -> RoiSpec:
        """A mask image (PNG, ...): any non-zero pixel belongs to the ROI."""
        try:
            clip = decode(source, limits, name="roi-mask", purpose="mask")
        except NeovascError as exc:
            raise InvalidROI(f"the ROI mask could not be read: {exc.message}") from exc
        return cls(mask=clip.frames[0].max(axis=-1) > 0)

    def check_fits(self, height: int, width: int) -> None:
        """Raise :class:`InvalidROI` when the region does not fit an image of that size."""
        self.to_mask(height, width)

    def to_mask(self, height: int, width: int) -> np.ndarray:
        """The ROI as an ``(H, W) bool`` mask for an image of that size."""
        if self.rect is not None:
            x0, y0, x1, y1 = self.rect
            if x1 > width or y1 > height:
                raise InvalidROI(
                    f"ROI {x0},{y0},{x1},{y1} extends beyond the {width}x{height} image; "
                    f"keep x1 <= {width} and y1 <= {height}"
                )
            mask = np.zeros((height, width), dtype=bool)
            mask[y0:y1, x0:x1] = True
            return mask
        assert self.mask is not None
        if self.mask.shape != (height, width):
            raise InvalidROI(
                f"ROI mask is {self.mask.shape[1]}x{self.mask.shape[0]} but the image is {width}x{height}; "
                "the mask must match the image size"
            )
        if not self.mask.any():
            raise InvalidROI("ROI mask has no non-zero pixel")
        return self.mask


def parse_hint(box: str | None, points: str | list[str] | None) -> Hint | None:
    """A hint for the tendon model: ``box`` ``"x0,y0,x1,y1"`` and/or ``points``, each ``"x,y"`` (a string may
    hold several separated by ``;``). None when neither is given. Raises :class:`InvalidROI` when malformed."""
    texts = [points] if isinstance(points, str) else list(points or [])
    parsed = [_point(part) for text in texts for part in text.split(";") if part.strip()]
    if len(parsed) > MAX_POINTS:
        raise InvalidROI(f"{len(parsed)} tendon points given; at most {MAX_POINTS}")
    rect = RoiSpec.from_text(box).rect if box else None
    if rect is None and not parsed:
        return None
    return Hint(box=rect, points=tuple(parsed))


def _point(text: str) -> tuple[int, int]:
    match = _POINT.match(text)
    if match is None:
        raise InvalidROI(f"tendon point {text[:40]!r} is not 'x,y' (two whole numbers in pixels, e.g. 240,180)")
    return int(match.group(1)), int(match.group(2))

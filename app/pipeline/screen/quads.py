"""The four-sided outlines the straight-outline searches build (``Quad``), the flow they must hold (``Flow``), and
the limits both searches share (:mod:`.straight_outlines`, :mod:`.hidden_outlines`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.pipeline.screen.doppler_box import MIN_FLOW_HELD
from app.pipeline.screen.line_edges import Edge

MAX_EDGE_COLOUR = 32  # max channel difference between a box's two edges (codecs shift each edge differently)
MAX_SIDE_SLOPE = 0.8  # |dx/dy| of a side: beam steering and trapezoid spread stay below 40 degrees
# A picture's left or right border stands in for a side only around flow: without any, a tissue line that runs to
# the border and a line of speckle beside it would make a box of any size
MIN_BORDER_FLOW = 20  # px


@dataclass(frozen=True)
class Quad:
    """A four-sided outline: the edges' centre rows and the sides' x at them (line centres)."""

    top: Edge
    bottom: Edge
    left: tuple[float, float]  # x at the top row, x at the bottom row
    right: tuple[float, float]

    def interior(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(y1 - y0, x1 - x0) bool``: strictly inside the lines (their thickness excluded)."""
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        t = (ys - self.top.y) / (self.bottom.y - self.top.y)
        half = 0.5 * max(self.top.rows, self.bottom.rows)
        left = self.left[0] + (self.left[1] - self.left[0]) * t
        right = self.right[0] + (self.right[1] - self.right[0]) * t
        inside = (ys > self.top.y + half) & (ys < self.bottom.y - half)
        return inside & (xs > left + half) & (xs < right - half)


@dataclass(frozen=True)
class Flow:
    """The flow seen on screen, as points: a Doppler box holds at least MIN_FLOW_HELD of it."""

    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> Flow:
        ys, xs = np.nonzero(mask)
        return cls(xs.astype(np.float64), ys.astype(np.float64))

    def held(self, inside: np.ndarray) -> bool:
        """Whether the points where ``inside`` is True are enough of the flow."""
        return np.count_nonzero(inside) >= MIN_FLOW_HELD * self.xs.size

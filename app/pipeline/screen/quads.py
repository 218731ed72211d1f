"""The four-sided outlines the straight-outline searches build (``Quad``), the flow they must hold (``Flow``), and
the limits both searches share (:mod:`.straight_outlines`, :mod:`.hidden_outlines`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.doppler_box import MIN_FLOW_HELD
from app.pipeline.screen.line_colours import MIN_SIDE_SHARE, LineColours
from app.pipeline.screen.line_edges import CORNER_REACH, Edge
from app.pipeline.screen.straight_sides import along_edge

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

    def x_at(self, side: tuple[float, float], y):
        """x of ``side``'s line (``self.left`` or ``self.right``) at row ``y`` (a number or an array)."""
        t = (y - self.top.y) / (self.bottom.y - self.top.y)
        return side[0] + (side[1] - side[0]) * t

    def between(self, top: Edge, bottom: Edge) -> Quad:
        """The same sides, carried on (or cut short) to the rows of ``top`` and ``bottom``."""
        left = (self.x_at(self.left, top.y), self.x_at(self.left, bottom.y))
        right = (self.x_at(self.right, top.y), self.x_at(self.right, bottom.y))
        return Quad(top, bottom, left, right)

    def spanned_by(self, edge: Edge, lines: LineColours) -> bool:
        """Whether ``edge`` is of the quad's colour and shows as a line between its sides carried on to its row."""
        if np.abs(edge.colour - self.top.colour).max() > MAX_EDGE_COLOUR:
            return False
        return along_edge(lines, edge, self.x_at(self.left, edge.y), self.x_at(self.right, edge.y)) >= MIN_SIDE_SHARE

    def interior(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(y1 - y0, x1 - x0) bool``: strictly inside the lines (their thickness excluded)."""
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        half = 0.5 * max(self.top.rows, self.bottom.rows)
        left, right = self.x_at(self.left, ys), self.x_at(self.right, ys)
        inside = (ys > self.top.y + half) & (ys < self.bottom.y - half)
        return inside & (xs > left + half) & (xs < right - half)


def border_side(picture: Rect, end: int, score: float) -> tuple[float, float, float]:
    """The ``picture``'s left (``end`` 0) or right border as a box side ``(x at the top, x at the bottom, score)``:
    a box taken to the picture's side, where no line shows."""
    x = _border_x(picture, end)
    return (x, x, score)


def at_border(picture: Rect, end: int, x: float, scale: float) -> bool:
    """Whether an edge ending at ``x`` runs to the ``picture``'s left (``end`` 0) or right border: within
    CORNER_REACH px (at 640) of it."""
    return abs(x - _border_x(picture, end)) <= CORNER_REACH * scale


def _border_x(picture: Rect, end: int) -> int:
    return picture[0] if end == 0 else picture[2] - 1


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

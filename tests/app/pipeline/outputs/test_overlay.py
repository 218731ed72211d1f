"""Overlay image of one frame, checked pixel by pixel where it matters."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.pipeline.grading.scales import Grading
from app.pipeline.outputs.overlay import CYAN, GREEN, WHITE, YELLOW, boundary, caption_area, grading_lines, render_frame

LINES = ("grade 2 (modified Ohberg)", "CF 3.1%", "vessels 2", "frame 12")


def _frame(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """``(H, W, 3) uint8 RGB`` with no pure drawing colour: G stays below 100, R and B in 30..200."""
    frame = rng.integers(30, 201, size=(height, width, 3), dtype=np.uint8)
    frame[..., 1] //= 2
    return frame


def _ellipse(height: int, width: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1


def _reference_boundary(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask (beyond the image counts as outside), by shifts."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def _is(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.asarray(colour, np.uint8), axis=-1)


def _outside(shape: tuple[int, int], area: tuple[int, int, int, int]) -> np.ndarray:
    keep = np.ones(shape, dtype=bool)
    x0, y0, x1, y1 = area
    keep[y0:y1, x0:x1] = False
    return keep


TENDONS = {
    "ellipse": lambda h, w: _ellipse(h, w, w / 2, h * 0.65, w * 0.35, h * 0.18),
    "touching-edges": lambda h, w: _ellipse(h, w, w, h, w * 0.5, h * 0.4),
    "with-hole": lambda h, w: (
        _ellipse(h, w, w / 2, h * 0.65, w * 0.35, h * 0.2) & ~_ellipse(h, w, w / 2, h * 0.65, 9, 5)
    ),
    "one-pixel": lambda h, w: np.pad(np.ones((1, 1), bool), ((h - 10, 9), (w // 2, w - w // 2 - 1))),
    "empty": lambda h, w: np.zeros((h, w), bool),
}


@pytest.mark.parametrize("kind", list(TENDONS), ids=list(TENDONS))
def test_boundary_is_the_mask_pixels_with_a_4_neighbour_outside(kind):
    mask = TENDONS[kind](90, 121)
    np.testing.assert_array_equal(boundary(mask), _reference_boundary(mask))


@pytest.mark.parametrize(("height", "width"), [(120, 160), (97, 131), (1, 1), (1080, 1920)], ids=str)
def test_overlay_has_the_frame_size_and_dtype(rng, height, width):
    frame = _frame(rng, height, width)
    tendon = TENDONS["ellipse"](height, width)
    out = render_frame(frame, tendon, tendon & (rng.random((height, width)) < 0.1), text_lines=LINES, flash=True)
    assert out.shape == (height, width, 3)
    assert out.dtype == np.uint8


@pytest.mark.parametrize("kind", list(TENDONS), ids=list(TENDONS))
@pytest.mark.parametrize("lines", [(), LINES], ids=["no-text", "text"])
def test_white_is_exactly_the_tendon_boundary_and_green_the_counted_pixels(rng, kind, lines):
    frame = _frame(rng, 120, 160)
    tendon = TENDONS[kind](120, 160)
    counted = tendon & (rng.random(tendon.shape) < 0.3)  # also on boundary pixels, where the contour wins
    before = frame.copy()
    out = render_frame(frame, tendon, counted, text_lines=lines)
    np.testing.assert_array_equal(frame, before)  # the input is not drawn on
    keep = _outside(tendon.shape, caption_area(160, 120, lines))
    edge = _reference_boundary(tendon)
    np.testing.assert_array_equal(_is(out, WHITE) & keep, edge & keep)
    np.testing.assert_array_equal(_is(out, GREEN) & keep, counted & ~edge & keep)
    untouched = keep & ~edge & ~counted
    np.testing.assert_array_equal(out[untouched], frame[untouched])


def test_band_outer_edge_is_cyan_and_box_edge_yellow(rng):
    frame = _frame(rng, 120, 160)
    tendon = _ellipse(120, 160, 80, 75, 50, 15)
    band = _ellipse(120, 160, 80, 75, 58, 22) & ~tendon  # a ring around the tendon
    box = np.zeros_like(tendon)
    box[40:115, 20:150] = True
    out = render_frame(frame, tendon, np.zeros_like(tendon), band=band, box=box)
    band_edge = _reference_boundary(band | tendon) & ~tendon
    box_edge = _reference_boundary(box) & ~band_edge & ~_reference_boundary(tendon)
    assert band_edge.any() and box_edge.any()
    np.testing.assert_array_equal(_is(out, CYAN), band_edge)
    np.testing.assert_array_equal(_is(out, YELLOW), box_edge)
    np.testing.assert_array_equal(_is(out, WHITE), _reference_boundary(tendon))


def test_without_band_or_box_neither_colour_appears(rng):
    frame = _frame(rng, 120, 160)
    tendon = _ellipse(120, 160, 80, 75, 50, 15)
    out = render_frame(frame, tendon, np.zeros_like(tendon))
    assert not _is(out, CYAN).any()
    assert not _is(out, YELLOW).any()


@pytest.mark.parametrize("flash", [False, True], ids=["kept", "flash"])
def test_caption_darkens_the_corner_and_shows_flash_in_red(rng, flash):
    frame = np.full((240, 320, 3), 200, np.uint8)
    empty = np.zeros((240, 320), bool)
    out = render_frame(frame, empty, empty, text_lines=LINES, flash=flash)
    x0, y0, x1, y1 = caption_area(320, 240, LINES, flash)
    assert (x0, y0) == (0, 0) and 40 < x1 < 320 and 20 < y1 < 240
    corner = out[y0:y1, x0:x1]
    assert (corner.max(axis=-1) <= 200 // 4).mean() > 0.6  # mostly dark backing, the rest text
    reddish = (corner[..., 0] > 150) & (corner[..., 1] < 60) & (corner[..., 2] < 60)
    assert reddish.any() == flash
    assert (out[y1:] == 200).all() and (out[:, x1:] == 200).all()  # nothing outside the corner


def test_no_caption_leaves_the_corner_alone(rng):
    frame = _frame(rng, 60, 80)
    empty = np.zeros((60, 80), bool)
    assert caption_area(80, 60, ()) == (0, 0, 0, 0)
    np.testing.assert_array_equal(render_frame(frame, empty, empty), frame)


BAD_ARRAYS = {
    "tendon-shape": {"tendon": np.zeros((5, 5), bool)},
    "counted-dtype": {"counted": np.zeros((10, 12), np.uint8)},
    "band-shape": {"band": np.zeros((12, 10), bool)},
    "box-list": {"box": [[True] * 12] * 10},
    "frame-grey": {"frame": np.zeros((10, 12), np.uint8)},
    "frame-float": {"frame": np.zeros((10, 12, 3), np.float32)},
}


@pytest.mark.parametrize("case", list(BAD_ARRAYS), ids=list(BAD_ARRAYS))
def test_wrong_arrays_are_refused(case):
    args = {"frame": np.zeros((10, 12, 3), np.uint8), "tendon": np.zeros((10, 12), bool)}
    args["counted"] = args["tendon"]
    args.update(BAD_ARRAYS[case])
    frame, tendon, counted = args.pop("frame"), args.pop("tendon"), args.pop("counted")
    with pytest.raises(ValueError, match="must be an"):
        render_frame(frame, tendon, counted, **args)


def test_render_frame_is_cheap_at_1080p(rng):
    frame = rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)
    tendon = _ellipse(1080, 1920, 960, 540, 600, 150)
    band = _ellipse(1080, 1920, 960, 540, 640, 190) & ~tendon
    box = np.zeros_like(tendon)
    box[200:900, 300:1600] = True
    counted = tendon & (rng.random(tendon.shape) < 0.1)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        render_frame(frame, tendon, counted, band=band, box=box, text_lines=LINES, flash=True)
        best = min(best, time.perf_counter() - start)
    assert best < 0.030, f"{1000 * best:.1f} ms"


def test_grading_lines_name_grade_cf_vessels_and_frame():
    grading = Grading(
        frame_index=12,
        colour_fraction=0.0312,
        doppler_px=31,
        area_px=1000,
        vessel_count=2,
        grades={"modified_ohberg": 2, "colour_fraction_grade": 1},
    )
    assert grading_lines(grading) == ("grade 2 (modified Ohberg)", "CF 3.1%", "vessels 2", "frame 12")
    assert grading_lines(grading, fps=10)[-1] == "frame 12 (1.20 s)"
    empty = Grading(frame_index=0, colour_fraction=None, doppler_px=0, area_px=0, vessel_count=None)
    assert grading_lines(empty)[:3] == ("grade n/a (modified Ohberg)", "CF n/a", "vessels n/a")

"""Coloured measurement calipers over the picture: found, left out of the count, and never taken from flow.

Screens are built here: a speckled B-mode picture with a white Doppler box outline, flow painted in the colour
bar's colours, and calipers drawn the way scanners draw them: a dotted line of one colour (dots of 1-2 px every
4-8 px) with a '+' or 'x' at each end, stored lossless, as JPEG, or in an H.264 clip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from app.pipeline.screen.calipers import find_calipers
from app.pipeline.screen.parse import find_screen
from tests.app.pipeline.screen.test_parse import (
    BLUE,
    PICTURE,
    RED,
    THRESHOLD,
    blank_screen,
    power_rows,
    velocity_rows,
)

BOX = (150, 110, 470, 350)  # x0, y0, x1, y1 of the Doppler box outline
YELLOW, GREEN, CYAN = (250, 235, 40), (70, 235, 80), (40, 220, 235)
ON_PICTURE = np.zeros((480, 640), bool)  # where the screen parser looks for calipers
ON_PICTURE[PICTURE[1] : PICTURE[3], PICTURE[0] : PICTURE[2]] = True


def draw_caliper(image, a, b, colour, *, step: float = 6.0, dot: int = 1, arm: int = 5, cross: str = "+"):
    """A dotted line from cross ``a`` to cross ``b``: dots (discs of radius ``dot``) every ``step`` px between
    them, a ``cross`` ('+' or 'x') of arm ``arm`` at each end. Returns ``(H, W) bool``: the pixels drawn."""
    ink = np.zeros(image.shape[:2], np.uint8)
    a, b = np.array(a, float), np.array(b, float)
    count = int(np.hypot(*(b - a)) // step)
    for t in np.arange(1, count) / count:
        x, y = np.rint(a + t * (b - a)).astype(int)
        if dot == 0:
            ink[y, x] = 1
        else:
            cv2.circle(ink, (int(x), int(y)), dot, 1, -1)
    arms = [(arm, 0), (0, arm)] if cross == "+" else [(arm, arm), (arm, -arm)]
    for cx, cy in (a.astype(int), b.astype(int)):
        for dx, dy in arms:
            cv2.line(ink, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1, 1)
    image[ink > 0] = colour
    return ink > 0


def vessel(image, points, colour, width: int, rng) -> np.ndarray:
    """A vessel along ``points`` painted in ``colour`` with a speckled brightness. Returns its pixels."""
    ink = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(ink, [np.array(points, np.int32)], False, 1, width)
    shade = rng.uniform(0.75, 1.0, image.shape[:2])[..., None]
    image[ink > 0] = np.clip(np.array(colour) * shade, 0, 255).astype(np.uint8)[ink > 0]
    return ink > 0


def doppler_screen(rng) -> tuple[np.ndarray, np.ndarray]:
    """A colour-flow screen with three vessels in the box; returns ``(image, flow (H, W) bool)``."""
    image = blank_screen(rng, velocity_rows())
    cv2.rectangle(image, BOX[:2], BOX[2:], (255, 255, 255), 1)
    flow = vessel(image, [(180, 300), (240, 250), (300, 240)], RED, 5, rng)
    flow |= vessel(image, [(330, 150), (380, 200), (430, 210)], BLUE, 3, rng)
    flow |= vessel(image, [(200, 160), (290, 175)], RED, 2, rng)
    return image, flow


def found_pixels(calipers, shape) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for caliper in calipers:
        mask[caliper.pixels[:, 0], caliper.pixels[:, 1]] = True
    return mask


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


@pytest.mark.parametrize(
    ("colour", "step", "dot", "cross", "a", "b"),
    [
        (YELLOW, 6.0, 1, "+", (260, 130), (260, 330)),  # vertical, across the box
        (GREEN, 5.0, 1, "x", (170, 200), (440, 320)),  # oblique, over a vessel of another hue
        (CYAN, 8.0, 2, "+", (180, 330), (450, 130)),  # larger dots, the other diagonal
        (YELLOW, 4.0, 0, "+", (300, 300), (440, 300)),  # single-pixel dots, horizontal
    ],
)
def test_lossless_caliper_found_and_flow_kept(rng, colour, step, dot, cross, a, b):
    image, flow = doppler_screen(rng)
    drawn = draw_caliper(image, a, b, colour, step=step, dot=dot, cross=cross)
    flow &= ~drawn
    (caliper,) = find_calipers(image[None], ON_PICTURE)
    found = found_pixels([caliper], flow.shape)
    assert caliper.crosses == 2 and caliper.dots >= 0.8 * (np.hypot(b[0] - a[0], b[1] - a[1]) / step - 1)
    assert found[drawn].mean() >= 0.95  # dots and crosses
    assert not (found & flow).any()  # flow of another hue under it is kept
    assert np.abs(np.array(caliper.colour) - colour).max() <= 2


@pytest.mark.parametrize("quality", [75, 90])
def test_jpeg_caliper_smear_left_out(rng, quality):
    image, flow = doppler_screen(rng)
    drawn = draw_caliper(image, (250, 130), (250, 330), YELLOW, step=7.0)
    decoded = jpeg(image, quality)
    calipers = find_calipers(decoded[None], ON_PICTURE)
    assert len(calipers) == 1
    found = found_pixels(calipers, flow.shape)
    assert found[drawn].mean() >= 0.9
    # what the codec smeared of the caliper's colour onto the grey around it goes with it
    chroma = decoded.max(axis=2).astype(int) - decoded.min(axis=2)
    near = cv2.dilate(drawn.view(np.uint8), np.ones((5, 5), np.uint8)) > 0
    smear = (
        near & ~drawn & (chroma > THRESHOLD) & ~cv2.dilate(flow.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    )
    assert found[smear].mean() >= 0.8
    assert (found & flow).sum() <= 0.01 * flow.sum()


def test_flow_alone_holds_no_caliper(rng):
    """Thin beaded vessels, speckled flow and scattered colour noise, and off the picture an ECG trace and a line
    of text: no caliper among them."""
    image, _ = doppler_screen(rng)
    for k in range(6):  # thin straight vessels whose brightness beads along them
        x = 190 + 45 * k
        ink = np.zeros(image.shape[:2], np.uint8)
        cv2.line(ink, (x, 140), (x + 30, 330), 1, 2)
        beads = 0.6 + 0.4 * (np.sin(np.arange(image.shape[0]) / 1.7)[:, None] > 0)
        colour = np.array(RED if k % 2 else BLUE) * beads[..., None]
        image[ink > 0] = colour.astype(np.uint8).repeat(image.shape[1], axis=1)[ink > 0]
    noise = rng.random(image.shape[:2]) < 0.002
    image[noise & (rng.random(image.shape[:2]) < 0.5)] = RED
    image[noise & (rng.random(image.shape[:2]) >= 0.5)] = BLUE
    for frame in (image, jpeg(image, 80)):
        assert find_calipers(frame[None], np.ones(image.shape[:2], bool)) == ()


def test_clip_caliper_is_static(rng):
    """On a clip, a caliper is drawn on every frame; a row of dots on one frame only is flow."""
    frames = []
    for k in range(3):
        image, _ = doppler_screen(np.random.default_rng(k))
        if k == 0:
            draw_caliper(image, (200, 140), (200, 320), GREEN)  # first frame only
        draw_caliper(image, (400, 140), (400, 320), YELLOW)
        frames.append(image)
    (caliper,) = find_calipers(np.stack(frames), ON_PICTURE)
    assert abs(caliper.first[0] - 400) <= 1 and caliper.colour[2] < 100  # the yellow one


def test_screen_leaves_calipers_out_of_the_count(rng):
    image, flow = doppler_screen(rng)
    drawn = draw_caliper(image, (260, 130), (260, 330), YELLOW)
    screen = find_screen(image[None], THRESHOLD)
    assert len(screen.calipers) == 1 and screen.mode == "colour"
    excluded = screen.exclude_mask(*image.shape[:2])
    assert excluded[drawn].all() and not excluded[flow & ~drawn].any()
    (described,) = screen.describe()["calipers"]
    assert described["crosses"] == 2 and described["pixels"] == int(screen.calipers[0].pixels.shape[0])
    assert described["box"]["y0"] <= 125 and described["box"]["y1"] >= 335


def test_grade_with_calipers_equals_grade_without(rng, settings):
    """Across the tendon, a caliper adds no Doppler pixels and no vessels, lossless or as JPEG."""
    clean, _ = doppler_screen(rng)
    marked = clean.copy()
    drawn = draw_caliper(marked, (345, 125), (345, 335), YELLOW, step=6.0)
    tendon = np.zeros(clean.shape[:2], bool)
    tendon[140:320, 170:450] = True
    options = AnalyzeOptions(roi=RoiSpec(mask=tendon))
    for encode in (lambda im: im, lambda im: jpeg(im, 90)):
        without = analyze(encode(clean), options, settings=settings)
        with_marks = analyze(encode(marked), options, settings=settings)
        assert [w.code for w in with_marks.warnings if w.code == "calipers_left_out"] == ["calipers_left_out"]
        assert with_marks.summary.vessel_count == without.summary.vessel_count
        assert with_marks.summary.doppler_px <= without.summary.doppler_px
        # the tendon's area loses only the caliper's pixels
        lost = without.summary.tendon_area_px - with_marks.summary.tendon_area_px
        assert 0 < lost <= 3 * drawn.sum()


def test_calipers_do_not_steer_the_search_for_a_grey_box(rng):
    """A power Doppler screen after treatment: a thin grey box outline over speckle, nothing flowing, and yellow
    calipers measuring below the box. The calipers are marks, not flow: the box is found as on the same screen
    without them, not searched for around their dots."""
    image = blank_screen(rng, power_rows())
    cv2.rectangle(image, BOX[:2], BOX[2:], (150, 150, 150), 1)
    without = find_screen(image[None], THRESHOLD)
    draw_caliper(image, (200, 365), (420, 390), YELLOW)
    screen = find_screen(image[None], THRESHOLD)
    assert len(without.boxes) == 1 and without.boxes[0].source == "outline"
    assert [b.bbox for b in screen.boxes] == [b.bbox for b in without.boxes]
    assert len(screen.calipers) == 1

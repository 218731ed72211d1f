"""Unmixing lossy colour with a bar: each pixel's paint read from its luma, the codec's chroma blur undone, and
each group of painted pixels keeping as many as its paint adds up to."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import cuda_ops
from app.pipeline.decode import SourceInfo
from app.pipeline.measure import unmix_kernel
from app.pipeline.measure.colour_rule import bar_lut, colour_rule
from app.pipeline.measure.paint_unmix import (
    SIGMA,
    Unmixer,
    paint_share,
    paint_table,
    painted,
    picture_tint,
    unmix,
    unmix_dense,
    unmixer,
)
from app.pipeline.screen.colour_bar import ColourBar
from app.pipeline.screen.parse import Screen

YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
RED, BLUE = (220, 40, 10), (20, 80, 240)
BAR = np.array([RED, BLUE, (120, 0, 0), (0, 10, 120)], np.uint8)
JPEG = SourceInfo(format="jpeg", colour="RGB", chroma_subsampling="4:2:0", lossy=True)


def _paint(table, rgb) -> tuple[int, ...] | None:
    cell = np.asarray(rgb, np.uint8) >> (8 - table.bits)
    colour = table.rgb[cell[0], cell[1], cell[2]]
    return None if not table.chroma[cell[0], cell[1], cell[2]].any() else tuple(int(v) for v in colour)


def _faded(rgb, share: float, luma: float | None = None) -> tuple[int, int, int]:
    ycc = YCBCR @ np.asarray(rgb, np.float64)
    ycc[1:] *= share
    if luma is not None:
        ycc[0] = luma
    return tuple(int(v) for v in np.clip(np.rint(np.linalg.solve(YCBCR, ycc)), 0, 255))


def _smeared(painted_rgb: np.ndarray, down: bool = True) -> np.ndarray:
    """What a subsampling codec leaves of ``painted_rgb``: every pixel's luma, the chroma averaged over 2 x 2
    pixels (2 x 1 when not ``down``: 4:2:2) and interpolated again."""
    ycc = painted_rgb.astype(np.float32) @ YCBCR.T.astype(np.float32)
    h, w = ycc.shape[:2]
    small = cv2.resize(ycc[..., 1:], (w // 2, h // 2 if down else h), interpolation=cv2.INTER_AREA)
    ycc[..., 1:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(ycc @ np.linalg.inv(YCBCR).T.astype(np.float32)), 0, 255).astype(np.uint8)


def _speckle(rng, h: int, w: int) -> np.ndarray:
    grey = rng.integers(60, 140, (h, w), dtype=np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_a_pixel_may_hold_the_bar_colour_its_luma_and_hue_point_to():
    table = paint_table(BAR, 40)
    assert _paint(table, RED) == RED and _paint(table, BLUE) == BLUE
    assert _paint(table, _faded(RED, 0.3)) == RED  # faded toward grey at its luma: still that paint
    assert _paint(table, _faded(RED, 0.5, luma=35)) == (120, 0, 0)  # the same hue darker: the dark red
    assert _paint(table, (100, 100, 100)) is None  # grey
    assert _paint(table, _faded(RED, 0.05)) is None  # chroma noise
    assert _paint(table, _faded(RED, 0.6, luma=160)) is None  # no bar colour of that hue near that luma
    assert _paint(table, (40, 200, 40)) is None  # a hue the bar does not have
    assert paint_table(np.array([(90, 90, 90), (100, 110, 100)], np.uint8), 40) is None  # a grey bar


def test_painted_keeps_as_many_pixels_per_group_as_its_paint_adds_up_to():
    alpha = np.zeros((5, 12), np.float32)
    alpha[1, 1:4] = (0.3, 0.6, 0.5)  # one group: 1.4 -> its one fullest pixel
    alpha[3, 7:11] = (0.9, 0.8, 0.6, 0.3)  # another: 2.6 -> three
    alpha[0, 11] = 0.04  # below the least a group's pixel holds
    chosen = painted(alpha)
    assert chosen.sum() == 4
    assert chosen[1, 2] and chosen[3, 7:10].all() and not chosen[3, 10] and not chosen[0, 11]
    assert not painted(np.zeros((3, 3), np.float32)).any()


@pytest.mark.parametrize("width", [1, 2, 4])
def test_a_smeared_vessel_counts_its_own_width(rng, width):
    """A vessel under the codec's chroma blur: the per-pixel table loses the thin ones; unmixing counts each
    within 15 % whatever its width (speckle with the paint's luma beside it takes a little of the smear)."""
    frame = _speckle(rng, 40, 60)
    frame[18 : 18 + width, 10:50] = RED
    truth = 40 * width
    smeared = _smeared(frame)
    table = paint_table(BAR, 40)
    chosen = painted(unmix(smeared, table, (SIGMA, SIGMA)))
    per_pixel = int(cuda_ops.doppler_mask(smeared, np.ones((40, 60), np.uint8), bar_lut(BAR, 40)).sum())
    assert abs(int(chosen.sum()) - truth) <= 0.15 * truth, (chosen.sum(), truth)
    # mostly the vessel's own pixels, told by their luma (beside a one-pixel vessel, half the speckle has its luma)
    assert chosen[18 : 18 + width, 12:48].mean() >= (0.65 if width == 1 else 0.9)
    if width == 1:
        assert per_pixel < truth / 2  # the table loses a vessel narrower than the chroma's resolution


def test_single_painted_pixels_and_dark_smear(rng):
    """Single painted pixels keep a quarter of their chroma and the table drops them; dark speckle beside a
    vessel takes a dark colour of the bar and the table counts it. Unmixing counts both as painted."""
    frame = _speckle(rng, 40, 60)
    for y, x in [(5, 5), (5, 30), (34, 52)]:
        frame[y, x] = BLUE
    frame[20:23, 10:50] = (120, 0, 0)  # a dark-red vessel
    frame[23, 10:50:2] = 0  # black speckle below it
    truth = 3 + 3 * 40
    smeared = _smeared(frame)
    chosen = painted(unmix(smeared, paint_table(BAR, 40), (SIGMA, SIGMA)))
    assert chosen[5, 5] and chosen[5, 30] and chosen[34, 52]
    assert abs(int(chosen.sum()) - truth) <= 6, chosen.sum()


def test_4_2_2_is_unmixed_across_only(rng):
    frame = _speckle(rng, 30, 40)
    frame[5:25, 20] = RED  # a one-pixel-wide vertical vessel: 4:2:2 halves its chroma
    smeared = _smeared(frame, down=False)
    chosen = painted(unmix(smeared, paint_table(BAR, 40), (SIGMA, 0.0)))
    assert abs(int(chosen.sum()) - 20) <= 3 and chosen[5:25, 20].sum() >= 13


def test_repainted_frames_show_the_painted_pixels_in_their_bar_colour_and_the_rest_grey(rng):
    frames = np.stack([_speckle(rng, 40, 60) for _ in range(2)])
    frames[0, 10:12, 10:40] = RED
    frames[:, 35:38, 5:20] = BLUE  # outside the window: left as it is
    frames = np.stack([_smeared(f) for f in frames])
    before = frames.copy()
    where = np.zeros((40, 60), bool)
    where[2:30, 2:58] = True
    unmix_rule = unmixer(BAR, "4:2:0", where, 40)
    out = unmix_rule.repainted(frames)
    np.testing.assert_array_equal(frames, before)  # the input is not changed
    inside = out[:, 2:30, 2:58].astype(int)
    colour = inside.max(axis=-1) - inside.min(axis=-1) > 40  # what the chroma rule counts
    assert abs(int(colour[0].sum()) - 60) <= 8 and not colour[1].any()
    assert {tuple(v) for v in inside[0][colour[0]]} == {RED}
    decoded = frames[0, 2:30, 2:58]
    smear = (decoded.max(axis=-1).astype(int) - decoded.min(axis=-1) > 40) & ~colour[0]
    grey = cv2.cvtColor(np.ascontiguousarray(decoded), cv2.COLOR_RGB2GRAY).astype(int)
    assert smear.any() and np.abs(inside[0][smear] - grey[smear][:, None]).max() <= 1  # the smear: its luma
    rest = ~smear & ~colour[0]
    np.testing.assert_array_equal(inside[0][rest], decoded[rest])  # the rest as it was
    np.testing.assert_array_equal(out[:, 30:], frames[:, 30:])


def test_one_unmixer_repaints_batch_after_batch_as_a_fresh_one_does(rng):
    """An Unmixer reuses its copy and its work plane from batch to batch: nothing of one batch may reach the
    next (a vessel, a smear, the residual of the fit), whatever the batch sizes."""
    frames = np.stack([_speckle(rng, 40, 60) for _ in range(5)])
    frames[0, 10:12, 10:40] = RED
    frames[2, 20:23, 5:50] = BLUE
    frames[3, 5, 30] = (120, 0, 0)  # a single painted pixel
    frames = np.stack([_smeared(f) for f in frames])
    where = np.ones((40, 60), bool)
    reused = unmixer(BAR, "4:2:0", where, 40)
    for batch in (frames[:2], frames[2:4], frames[4:], frames[:2]):
        got = reused.repainted(batch).copy()
        np.testing.assert_array_equal(got, unmixer(BAR, "4:2:0", where, 40).repainted(batch))
    assert not reused._scratch[(40, 60, 4)].any()  # the work plane is left zero


def test_which_inputs_are_unmixed():
    where = np.ones((20, 30), bool)
    assert isinstance(unmixer(BAR, "4:2:0", where, 40), Unmixer)
    assert unmixer(BAR, "4:2:2", where, 40).sigma == (SIGMA, 0.0)
    assert unmixer(BAR, "4:4:4", where, 40) is None  # nothing blurred the chroma
    assert unmixer(BAR, None, where, 40) is None
    assert unmixer(BAR, "4:1:1", where, 40) is None  # not measured: the per-pixel table
    assert unmixer(BAR, "4:2:0", np.zeros((20, 30), bool), 40) is None


def test_the_colour_rule_unmixes_lossy_subsampled_colour_with_a_bar():
    frames = np.zeros((1, 20, 30, 3), np.uint8)
    where = np.ones((20, 30), bool)
    bar = ColourBar((0, 0, 4, 4), BAR, np.linspace(1, -1, 4).astype(np.float32), "velocity", "vertical", 2.0)
    screen = Screen(image_area=(0, 0, 30, 20), colour_bars=(bar,), mode="colour")
    rule = colour_rule(screen, JPEG, frames, where, 40)
    assert rule.kind == "bar" and rule.unmix is not None and rule.lut.kind == "chroma"
    table = colour_rule(screen, JPEG, frames, where, 40, rule="table")
    assert table.kind == "bar" and table.unmix is None and table.lut.kind == "table"
    assert table.counted(frames) is frames
    lossy_444 = SourceInfo(format="jpeg", colour="RGB", chroma_subsampling="4:4:4", lossy=True)
    assert colour_rule(screen, lossy_444, frames, where, 40).unmix is None
    assert colour_rule(Screen(image_area=(0, 0, 30, 20), mode="colour"), JPEG, frames, where, 40).kind == "saturation"


@pytest.mark.skipif(unmix_kernel.IMPORT_ERROR is not None, reason="numba is not installed")
def test_the_sparse_fit_gives_the_dense_fits_paint(rng):
    """The numba fit over the pixels that may hold paint against the whole-crop OpenCV fit it replaces: the
    same paint to float rounding, away from the crop's border (where OpenCV reflects the picture)."""
    frame = _speckle(rng, 48, 64)
    frame[10:13, 8:56] = RED
    frame[30, 10:50] = BLUE
    for y, x in [(40, 5), (5, 60), (44, 30)]:
        frame[y, x] = (120, 0, 0)
    smeared = _smeared(frame)
    table = paint_table(BAR, 40)
    for sigma in [(SIGMA, SIGMA), (SIGMA, 0.0)]:
        sparse, dense = unmix(smeared, table, sigma), unmix_dense(smeared, table, sigma)
        assert sparse.sum() > 100
        np.testing.assert_allclose(sparse[4:-4, 4:-4], dense[4:-4, 4:-4], atol=1e-4)
        np.testing.assert_array_equal(painted(sparse)[4:-4, 4:-4], painted(dense)[4:-4, 4:-4])


def test_a_bar_whose_colours_are_not_the_paint_is_not_the_reference(rng):
    """Paint of the bar's hues at lumas the bar does not show (here red mixed with bright tissue; a bar read wrong
    does the same): the bar would count almost none of it, so the clip's own colours (the cores of its coloured
    patches) are the reference.
    Coloured pixels of other hues (a green caliper) say nothing about the bar."""
    bar = ColourBar((0, 0, 4, 4), BAR, np.linspace(1, -1, 4).astype(np.float32), "velocity", "vertical", 2.0)
    screen = Screen(image_area=(0, 0, 60, 40), colour_bars=(bar,), mode="colour")
    where = np.ones((40, 60), bool)
    frames = np.stack([_speckle(rng, 40, 60) for _ in range(2)])
    frames[:, 30:33, 5:55] = (40, 220, 60)  # a green caliper line: 300 pixels, no flow
    assert colour_rule(screen, JPEG, frames, where, 40).kind == "bar"  # nothing of the bar's hues: trusted
    frames[:, 10:20, 10:50] = RED
    assert colour_rule(screen, JPEG, frames, where, 40).kind == "bar"
    blended = frames.copy()
    blended[:, 10:20, 10:50] = np.rint(0.75 * np.array(RED) + 0.25 * 230).astype(np.uint8)  # over bright tissue
    assert colour_rule(screen, JPEG, blended, where, 40).kind == "cores"
    table = paint_table(BAR, 40)
    assert paint_share(table, BAR, frames[:, 10:20, 10:50].reshape(-1, 3)) == 1.0
    assert paint_share(table, BAR, blended[:, 10:20, 10:50].reshape(-1, 3)) == 0.0
    assert paint_share(table, BAR, frames[:, 30:33, 5:55].reshape(-1, 3)) is None  # the caliper's hue: not the bar's
    assert paint_share(table, BAR, blended[:1, 10:12, 10:30].reshape(-1, 3)) is None  # 40 pixels: too few to tell


def _tinted(rng, h: int, w: int) -> np.ndarray:
    """Bright speckle through a bluish grey map (B about 11 above R): a chroma of 11, under the chroma rule's 40."""
    grey = rng.integers(170, 215, (h, w)).astype(np.int16)
    return np.clip(np.stack([grey, grey + 2, grey + 11], axis=-1), 0, 255).astype(np.uint8)


def test_a_tinted_grey_map_holds_no_paint(rng):
    """A pale bar colour along the tint of a bluish grey map: without the tint taken off, each tinted pixel holds a
    little of that paint and the groups add it up into whole painted pixels; with it, only the vessel is paint."""
    pale = np.array([*BAR, (170, 215, 255)], np.uint8)  # the pale end of a velocity bar
    frames = np.stack([_tinted(rng, 40, 60) for _ in range(2)])
    frames[0, 10:12, 10:40] = RED
    frames = np.stack([_smeared(f) for f in frames])
    where = np.ones((40, 60), bool)
    tint = picture_tint(frames, where, 40)
    assert tint is not None and tint[0, 190, 2] > 5 > tint[:, 190, :2].max()  # bluish: B taken down, R and G hardly
    counted = [
        (np.ptp(rule.repainted(frames).astype(int), axis=-1) > 40).sum(axis=(1, 2))
        for rule in (unmixer(pale, "4:2:0", where, 40), unmixer(pale, "4:2:0", where, 40, tint=tint))
    ]
    assert counted[0][1] > 100  # the tint painted
    assert abs(int(counted[1][0]) - 60) <= 8 and counted[1][1] == 0
    grey = np.stack([_speckle(rng, 40, 60)] * 2)
    assert picture_tint(grey, where, 40) is None  # a grey map has none

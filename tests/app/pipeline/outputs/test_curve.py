"""The colour-fraction curve image: size, determinism, flash marks, gaps, envelope, median, labels."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from app.pipeline.outputs.curve import render_curve

ORANGE = (230, 120, 0)  # the selected-frame marker


def _is(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.asarray(colour, np.uint8), axis=-1)


def _series(n: int, rng: np.random.Generator) -> list[float | None]:
    return [float(v) for v in 0.05 + 0.03 * np.sin(np.arange(n) / 7) + 0.01 * rng.random(n)]


def _bluish(image: np.ndarray) -> np.ndarray:
    """The curve, anti-aliased edges included (grid, axes and median are grey; markers orange and red)."""
    rgb = image.astype(np.int16)
    return (rgb[..., 2] - rgb[..., 0] > 60) & (rgb[..., 2] - rgb[..., 1] > 30)


def _red(image: np.ndarray) -> np.ndarray:
    return (image[..., 0] >= 200) & (image[..., 1] <= 60) & (image[..., 2] <= 60)


CURVES = {
    "one-frame": ([0.1], [False], 0),
    "one-frame-none": ([None], [False], None),
    "all-none": ([None] * 30, [False] * 30, 4),
    "all-flash": ([0.3] * 12, [True] * 12, None),
    "flash-without-value": ([0.02, None, 0.03], [False, True, False], 2),
    "no-frames": ([], [], None),
    "ten-thousand": (None, None, 4321),  # built in the test
}


@pytest.mark.parametrize("case", list(CURVES), ids=list(CURVES))
@pytest.mark.parametrize("size", [(320, 800), (120, 200), (241, 333)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_curve_has_the_requested_size_and_is_deterministic(rng, case, size):
    fractions, flash, selected = CURVES[case]
    if fractions is None:
        fractions = _series(10_000, rng)
        flash = [i % 1500 == 7 for i in range(10_000)]
    image = render_curve(fractions, flash, selected, size=size)
    assert image.shape == (*size, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, render_curve(fractions, flash, selected, size=size))
    assert _red(image).any() == any(flash)
    assert _is(image, ORANGE).any() == (selected is not None)


@pytest.mark.parametrize(
    "flash_at", [(), (5,), (0, 39), tuple(range(40))], ids=["none", "one", "first-and-last", "all"]
)
def test_red_marks_appear_exactly_with_flash_frames(rng, flash_at):
    fractions = _series(40, rng)
    flash = [i in flash_at for i in range(40)]
    image = render_curve(fractions, flash, 20)
    assert _red(image).any() == bool(flash_at)


def test_frames_without_a_value_leave_a_gap(rng):
    fractions = _series(40, rng)
    fractions[10:20] = [None] * 10
    image = render_curve(fractions, [False] * 40, None)
    columns = np.flatnonzero(_bluish(image).any(axis=0))
    gaps = np.diff(columns)
    assert gaps.max() > 100  # ten frames of ~18 px each, minus the joined ends
    full = np.flatnonzero(_bluish(render_curve(_series(40, rng), [False] * 40, None)).any(axis=0))
    assert np.diff(full).max() <= 2


def test_ten_thousand_frames_draw_a_connected_envelope(rng):
    fractions = _series(10_000, rng)
    start = time.perf_counter()
    image = render_curve(fractions, [False] * 10_000, 9_999)
    assert time.perf_counter() - start < 0.5
    columns = np.flatnonzero(_bluish(image).any(axis=0))
    assert np.diff(columns).max() == 1 and columns.size > 600  # every column of the plot, no gap


def test_dense_envelope_stays_connected_across_columns():
    fractions = [0.02 if (i // 20) % 2 else 0.08 for i in range(10_000)]  # jumps every ~1.5 columns
    blue = _bluish(render_curve(fractions, [False] * 10_000, None))
    columns = np.flatnonzero(blue.any(axis=0))
    ranges = []
    for column in columns[: columns.size // 2]:  # the left half: clear of the median's label
        rows = np.flatnonzero(blue[:, column])
        assert rows[-1] - rows[0] + 1 == rows.size, column  # one run per column
        ranges.append((rows[0], rows[-1]))
    for (low_a, high_a), (low_b, high_b) in itertools.pairwise(ranges):
        assert low_b <= high_a + 1 and low_a <= high_b + 1  # neighbours touch


def test_median_line_sits_at_the_kept_frames_median():
    flash = [False] * 30 + [True, True]
    spikes = [0.6, 0.7]  # flash frames: they would pull a mean, not the kept frames' median
    reference = render_curve([0.05] * 30 + spikes, flash, None)  # its curve lies on the 5 % row
    image = render_curve([0.04, 0.06] * 15 + spikes, flash, None)  # median of the kept frames: 5 %
    grey_rows = _is(image, (110, 110, 110)).sum(axis=1)
    assert grey_rows.max() > 150  # dashes across the plot, between the label and the crossings
    assert abs(int(grey_rows.argmax()) - int(_bluish(reference).sum(axis=1).argmax())) <= 1


def test_seconds_axis_differs_from_frame_axis(rng):
    fractions = _series(50, rng)
    frames = render_curve(fractions, [False] * 50, 10)
    seconds = render_curve(fractions, [False] * 50, 10, fps=25.0)
    assert frames.shape == seconds.shape and not np.array_equal(frames, seconds)


def test_frame_step_labels_the_clip_frames(rng):
    fractions = _series(50, rng)
    every_third = render_curve(fractions, [False] * 50, 10, frame_step=3)
    assert not np.array_equal(every_third, render_curve(fractions, [False] * 50, 10))
    np.testing.assert_array_equal(every_third, render_curve(fractions, [False] * 50, 10, frame_step=3))


@pytest.mark.parametrize(
    ("fractions", "flash", "selected", "size", "match"),
    [
        ([0.1, 0.2], [False], None, (320, 800), "one flag per frame"),
        ([0.1, 0.2], [False, False], 2, (320, 800), "outside"),
        ([0.1], [False], None, (50, 800), "at least"),
    ],
    ids=["flags", "selected", "size"],
)
def test_curve_refuses_inconsistent_arguments(fractions, flash, selected, size, match):
    with pytest.raises(ValueError, match=match):
        render_curve(fractions, flash, selected, size=size)
    with pytest.raises(ValueError, match="frame_step"):
        render_curve([0.1], [False], None, frame_step=0)

"""Frame selection: flash rejection (saturated box, Hampel spike), the maximal-colour frame, clip statistics."""

from __future__ import annotations

import pytest

from app.pipeline.measure.selection import (
    FLASH_BOX_FRACTION,
    SPIKE_MIN_JUMP,
    clip_stats,
    flash_frames,
    select_frame,
)


def test_select_frame_skips_flash_and_missing():
    assert select_frame([0.1, 0.5, 0.3], [False, False, False]) == 1
    assert select_frame([0.1, 0.5, 0.3], [False, True, False]) == 2
    assert select_frame([None, 0.2, 0.2], [False, False, False]) == 1
    assert select_frame([None, None], [False, False]) == 0


def test_every_frame_flagged_grades_the_best_anyway():
    assert select_frame([0.2, 0.6, 0.4], [True, True, True]) == 1


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([0.9], [False]),  # a still is never rejected
        ([0.1, 0.8], [False, True]),  # two frames: only the saturated rule applies
        ([0.1, 0.12, 0.11, 0.45, 0.1, 0.09], [False, False, False, True, False, False]),  # spike
        ([0.1, 0.12, 0.11, 0.15, 0.1, 0.09], [False] * 6),  # flicker below the 10-point floor
        ([0.30, 0.32, 0.31, 0.60, 0.33, 0.29], [False, False, False, True, False, False]),  # saturated
        ([0.0, 0.0, 0.0, 0.0, 0.09], [False] * 5),  # MAD 0: the floor keeps a small rise
        ([0.0, 0.0, 0.0, 0.0, 0.11], [False, False, False, False, True]),
        ([None, 0.1, 0.1, 0.1, 0.1, 0.5], [False, False, False, False, False, True]),
    ],
    ids=["still", "two-frames", "spike", "flicker", "saturated", "mad-zero-small", "mad-zero-jump", "no-box-frame"],
)
def test_flash_frames(boxes, expected):
    assert flash_frames(boxes) == expected


def test_flash_rule_boundaries():
    assert flash_frames([0.0, FLASH_BOX_FRACTION]) == [False, False]  # "more than half"
    steady = [0.2] * 9
    assert flash_frames([*steady, 0.2 + SPIKE_MIN_JUMP]) == [False] * 10  # exactly the floor is not above it
    assert flash_frames([*steady, 0.2 + SPIKE_MIN_JUMP + 1e-9])[-1] is True


def test_clip_stats_over_kept_frames():
    stats = clip_stats([0.1, 0.9, 0.3, None], [False, True, False, False])
    assert (stats.analysed, stats.kept) == (4, 3)
    assert stats.mean == pytest.approx(0.2) and stats.median == pytest.approx(0.2)
    empty = clip_stats([None], [False])
    assert empty.mean is None and empty.median is None and empty.kept == 1

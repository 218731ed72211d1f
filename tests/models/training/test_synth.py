"""The synthetic tendon generator: deterministic by seed, sane shapes, labels and held-out ranges."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.training.synth import (
    HELDOUT_RANGES,
    PLACEMENTS,
    THICKNESS_MM,
    TRAIN_RANGES,
    make_dataset,
    make_sample,
)


def test_same_seed_gives_identical_frames() -> None:
    a, b = make_sample(7), make_sample(7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params


def test_different_seeds_differ() -> None:
    assert not np.array_equal(make_sample(1).image, make_sample(2).image)


@pytest.mark.parametrize("size", [(256, 256), (128, 160)], ids=["256x256", "128x160"])
def test_shapes_and_label_values(size: tuple[int, int]) -> None:
    sample = make_sample(3, replace(TRAIN_RANGES, size=size))
    assert sample.image.shape == (*size, 3) and sample.image.dtype == np.uint8
    assert sample.mask.shape == size and sample.mask.dtype == np.uint8
    assert set(np.unique(sample.mask)) <= {0, 1}


def test_tendon_is_present_and_plausibly_sized() -> None:
    images, masks = make_dataset(12, seed=5)
    assert images.shape == (12, 256, 256, 3) and masks.shape == (12, 256, 256)
    present = [not make_sample(5 * 1_000_003 + i).params["no_tendon"] for i in range(12)]
    fractions = masks.reshape(12, -1).mean(axis=1)[present]
    # A 2-12 mm tendon on a 15-50 mm field of view, on a screen letterboxed to the input: between ~0.1 %
    # (a thin transverse section on a wide screen) and ~40 % of the frame.
    assert len(fractions) >= 9 and (fractions > 0.001).all() and (fractions < 0.4).all()


def test_some_frames_hold_no_tendon_and_an_empty_mask() -> None:
    samples = [make_sample(seed) for seed in range(80)]
    empty = [s for s in samples if s.params["no_tendon"]]
    assert 2 <= len(empty) <= 16  # about NO_TENDON_SHARE of the frames
    assert all(s.mask.sum() == 0 for s in empty)


def test_thickness_and_depth_span_the_documented_ranges() -> None:
    params = [make_sample(seed).params for seed in range(40)]
    thickness = [q["thickness_mm"] for q in params]
    lo, hi = THICKNESS_MM
    assert min(thickness) >= lo - 0.5 and max(thickness) <= hi + 0.5
    assert min(thickness) < 4.0 and max(thickness) > 7.0
    assert min(q["depth_mm"] for q in params) < 2.5  # right under the skin line
    assert {q["view"] for q in params} == {"longitudinal", "transverse"}
    assert len({q["pathology"] for q in params}) >= 5
    assert {q["compression"] for q in params} == {"png", "jpeg", "h264", "dicom_jpeg"}
    assert len({tuple(q["screen"]) for q in params}) > 30  # any resolution and aspect


def test_colour_is_placed_independently_of_the_tendon() -> None:
    params = [make_sample(seed).params for seed in range(60)]
    placements = [q["placement"] for q in params]
    assert set(placements) == set(PLACEMENTS)
    assert placements.count("none") >= 60 // 4  # about a third carry no colour at all
    for q in params:
        if q["placement"] in ("none", "outside", "around") and not q.get("flash"):
            # no vessel enters the tendon; colour-noise speckles in the box may touch it
            assert q.get("colour_in_tendon", 0.0) < 0.05
    in_tendon = [q["colour_in_tendon"] for q in params if "colour_in_tendon" in q]
    assert max(in_tendon) > 0.3  # up to colour covering much of the tendon
    assert {q["box_covers"] for q in params if q.get("box")} == {"all", "part", "none"}


def test_heldout_ranges_lie_outside_the_training_ranges() -> None:
    for name in ("fov_mm", "thickness_scale", "gain_db", "dynamic_range_db"):
        (train_lo, train_hi), *_ = getattr(TRAIN_RANGES, name)
        for lo, hi in getattr(HELDOUT_RANGES, name):
            assert hi <= train_lo or lo >= train_hi, name
    sample = make_sample(4, HELDOUT_RANGES)
    lo, hi = TRAIN_RANGES.fov_mm[0]
    assert not lo < sample.params["fov_mm"] < hi


def test_picture_view_is_the_picture_alone_with_its_mask() -> None:
    ranges = replace(TRAIN_RANGES, view="picture", size=(128, 128))
    for seed in range(6):
        screen, picture = make_sample(seed), make_sample(seed, ranges)
        assert picture.image.shape == (128, 128, 3) and picture.mask.shape == (128, 128)
        assert picture.params == screen.params  # the same frame, seen otherwise
        # Cropped to the picture, the tendon takes a larger share of the input than on the whole screen.
        assert picture.mask.mean() > screen.mask.mean() or screen.params["no_tendon"]


def test_unknown_view_is_refused() -> None:
    with pytest.raises(ValueError, match="view"):
        make_sample(1, replace(TRAIN_RANGES, view="window"))


def test_contrast_spans_bright_to_barely_brighter_tendons() -> None:
    contrast = {make_sample(seed).params["contrast"] for seed in range(30)}
    assert contrast == {"high", "medium", "low"}


def test_domes_follow_the_arc_of_a_bony_head() -> None:
    # A run may ask for tendons draped over a round head (supraspinatus, common extensor origin): the band's
    # top is highest over the head and falls toward both ends, in both views. By default there are none.
    ranges = replace(TRAIN_RANGES, view="picture", dome_share=0.2)
    samples = [make_sample(seed, ranges) for seed in range(60)]
    domes = [s for s in samples if s.params["shape"] == "dome"]
    assert 5 <= len(domes) <= 25
    assert {s.params["view"] for s in domes} == {"longitudinal", "transverse"}
    arched = 0
    for sample in domes:
        if sample.params["no_tendon"]:
            continue
        cols = np.nonzero(sample.mask.any(axis=0))[0]
        tops = sample.mask[:, cols].argmax(axis=0)  # first tendon row of each column
        ends = max(tops[: max(1, cols.size // 10)].mean(), tops[-max(1, cols.size // 10) :].mean())
        arched += tops.min() < ends - 0.03 * sample.mask.shape[0]
    assert arched >= 0.8 * sum(not s.params["no_tendon"] for s in domes)
    assert all(make_sample(seed).params["shape"] != "dome" for seed in range(60))


def test_a_run_can_ask_for_more_frames_without_a_tendon() -> None:
    more = replace(TRAIN_RANGES, no_tendon_share=0.5)
    plain = [make_sample(seed) for seed in range(40)]
    samples = [make_sample(seed, more) for seed in range(40)]
    empty = [s for s in samples if s.params["no_tendon"]]
    assert 12 <= len(empty) <= 28 and all(s.mask.sum() == 0 for s in empty)
    # the share takes the same random draw: a frame that keeps its tendon is the same frame
    kept = [(a, b) for a, b in zip(plain, samples, strict=True) if not b.params["no_tendon"]]
    assert len(kept) >= 12
    assert all(np.array_equal(a.image, b.image) and a.params == b.params for a, b in kept)

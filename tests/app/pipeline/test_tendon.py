"""The model's region: one outline per still clip, hints that choose the region, confidence and fragments."""

from __future__ import annotations

import numpy as np
import pytest

from app.errors import InvalidROI
from app.pipeline import AnalyzeOptions, analyze, tendon
from app.pipeline.decode import Clip, SourceInfo
from app.pipeline.roi import parse_hint
from app.pipeline.tendon import CHANGE_LIMIT, CONSENSUS_FRAMES, Hint, TendonRegions, outline_warnings, thumbnails
from tests.conftest import grey_background

H, W = 120, 160
PICTURE = (0, 0, W, H)
UPPER, LOWER = (20, 20, 140, 45), (30, 80, 90, 100)  # two candidate regions; the upper one is larger


class _Model:
    """A stand-in tendon model with probabilities: 0.9 inside ``regions(frame index)``, 0.1 elsewhere."""

    name, sha256 = "fake", "0" * 64

    def __init__(self, regions=lambda i: (UPPER, LOWER), inside: float = 0.9) -> None:
        self.regions, self.inside, self.calls, self.seen = regions, inside, 0, 0

    def probabilities(self, frames, *, area=None):
        self.calls += 1
        self.area = area
        probs = np.full(frames.shape[:3], 0.1, np.float32)
        for k, frame in enumerate(frames):
            for x0, y0, x1, y1 in self.regions(int(frame[0, 0, 0])):  # the frame's index is painted in pixel 0
                probs[k, y0:y1, x0:x1] = self.inside
        self.seen += frames.shape[0]
        return probs

    def predict(self, frames, *, area=None):
        raise AssertionError("the region step uses probabilities when the model has them")


def _frames(n: int, rng, base: np.ndarray | None = None, first: int = 0) -> np.ndarray:
    """``n`` frames of one picture (the probe held still): ``base`` (a new speckle picture by default) with
    fresh grey noise on each frame; the frame's index (from ``first``) is painted in pixel 0."""
    base = grey_background(H, W, rng) if base is None else base
    noise = rng.integers(-6, 7, size=(n, H, W, 1))
    frames = np.clip(base[None].astype(np.int16) + noise, 0, 255).astype(np.uint8)
    frames[:, 0, 0] = (first + np.arange(n))[:, None]
    return frames


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_a_still_clip_gets_one_outline_from_a_few_frames(rng):
    model = _Model()
    regions = TendonRegions(model)
    base = grey_background(H, W, rng)
    first = regions(_frames(30, rng, base), PICTURE)
    assert first.shape == (1, H, W) and _box(first[0]) == UPPER
    assert model.seen == CONSENSUS_FRAMES  # the outline is voted from a few frames, not all 30
    assert model.area == PICTURE  # the model is told where the picture is (a picture model sees only it)
    assert regions(_frames(30, rng, base), PICTURE) is first  # the same outline: labelled once by the scan
    report = regions.report()
    assert report.movement < CHANGE_LIMIT and report.outlines == 1 and report.confidence == pytest.approx(0.9)


def test_a_moved_probe_gets_a_new_outline_and_a_return_gets_the_old_one_back(rng):
    moved = (20, 60, 140, 85)
    model = _Model(regions=lambda i: (UPPER,) if i < 10 or i >= 30 else (moved,))
    regions = TendonRegions(model)
    first, other = grey_background(H, W, rng), grey_background(H, W, rng)
    start = regions(_frames(10, rng, first), PICTURE)  # still
    later = regions(_frames(20, rng, other, first=10), PICTURE)  # another picture: the probe moved
    assert later.shape == (1, H, W) and _box(later[0]) == moved and model.seen == 2 * CONSENSUS_FRAMES
    back = regions(_frames(10, rng, first, first=30), PICTURE)  # the first picture again: its outline, no vote
    assert back is start and model.seen == 2 * CONSENSUS_FRAMES
    report = regions.report()
    assert report.outlines == 2 and report.movement > CHANGE_LIMIT
    assert [code for code, _ in outline_warnings(report)] == ["tendon_outline_moved"]


def test_a_swept_probe_keeps_the_masks_of_the_latest_outlines_only(rng, monkeypatch):
    """A probe swept through a long clip makes a new outline every few frames: memory must not grow with them.
    The latest KEPT_OUTLINES keep their masks (a picture the probe comes back to takes its outline back); an
    older picture is outlined again; the report still counts every outline."""
    monkeypatch.setattr(tendon, "KEPT_OUTLINES", 3)
    model = _Model()
    regions = TendonRegions(model)
    pictures = [grey_background(H, W, rng) for _ in range(8)]
    for k, picture in enumerate(pictures):
        regions(_frames(3, rng, picture, first=3 * k), PICTURE)
    assert model.seen == 8 * CONSENSUS_FRAMES
    assert sum(o.mask is not None for o in regions.outlines) == 3
    regions(_frames(3, rng, pictures[6], first=30), PICTURE)  # a recent picture again: its outline, no vote
    assert model.seen == 8 * CONSENSUS_FRAMES
    regions(_frames(3, rng, pictures[0], first=40), PICTURE)  # the first one: its mask was let go, voted again
    assert model.seen == 9 * CONSENSUS_FRAMES
    report = regions.report()
    assert report.outlines == 9 and not report.fragment and sum(o.mask is not None for o in regions.outlines) == 3


def test_a_change_within_a_batch_splits_it(rng):
    moved = (20, 60, 140, 85)
    model = _Model(regions=lambda i: (UPPER,) if i < 4 else (moved,))
    frames = np.concatenate([_frames(4, rng), _frames(6, rng, first=4)])
    regions = TendonRegions(model)
    runs = regions(frames, PICTURE)
    assert runs.stops == (4, 10) and [m.shape for m in runs.masks] == [(1, H, W), (1, H, W)]  # each labelled once
    masks = runs.stacked()
    assert masks.shape == (10, H, W)
    assert all(_box(m) == UPPER for m in masks[:4]) and all(_box(m) == moved for m in masks[4:])
    assert model.seen == min(4, CONSENSUS_FRAMES) + min(6, CONSENSUS_FRAMES)  # each run from its own frames


def test_colour_and_fresh_speckle_are_no_change_of_picture(rng):
    frames = _frames(3, rng)
    frames[1, 30:90, 40:120] = (230, 40, 20)  # a large vessel pulses in
    frames[2, 20:60, 20:60] = (20, 60, 230)
    thumbs = thumbnails(frames, PICTURE)
    assert max(thumbs[0].change(t) for t in thumbs[1:]) < CHANGE_LIMIT / 2
    other = thumbnails(_frames(1, rng), PICTURE)[0]
    assert thumbs[0].change(other) > CHANGE_LIMIT
    blank = thumbnails(np.zeros((2, H, W, 3), np.uint8), PICTURE)
    assert blank[0].change(blank[1]) == 0.0 and blank[0].change(thumbs[0]) == 1.0


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (Hint(box=(20, 70, 100, 110)), LOWER),  # a rough box around the lower region
        (Hint(points=((50, 90),)), LOWER),  # a point on it
        (Hint(points=((50, 104),)), LOWER),  # a point just below it: the nearest region
        (Hint(points=((12, 30),)), UPPER),  # a point left of both regions' box: the nearest region
        (Hint(points=((50, 30), (60, 90))), (20, 20, 140, 100)),  # both named: both kept
        (Hint(box=(20, 70, 400, 400)), LOWER),  # a box past the frame's edge: cut to the frame
    ],
    ids=["box", "point", "near-point", "left-point", "two-points", "box-past-the-edge"],
)
def test_a_hint_chooses_the_region(rng, hint, expected):
    regions = TendonRegions(_Model(), hint)
    outline = regions(_frames(1, rng), PICTURE)[0]
    assert _box(outline) == expected and regions.report().hint == hint.kind


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (Hint(box=(200, 130, 300, 200)), "ROI hint 200,130,300,200 lies outside the 160x120 image"),
        (Hint(box=(160, 0, 200, 50)), "ROI hint 160,0,200,50 lies outside the 160x120 image"),
        (Hint(points=((50, 90), (9000, 9000))), "tendon point 9000,9000 lies outside the 160x120 image"),
    ],
    ids=["box-beyond", "box-beside", "point-beyond"],
)
def test_a_hint_outside_the_image_is_invalid_roi(rng, settings, hint, message):
    """As a --roi outside the image: it was ignored, the whole picture searched and the "no tendon" check dropped."""
    with pytest.raises(InvalidROI, match=message):
        analyze(
            _frames(1, rng)[0], AnalyzeOptions(hint=hint), segmenter=_JudgingModel(lambda i: 0.1), settings=settings
        )


def test_a_hint_box_off_the_frame_leaves_nothing_to_search(rng):
    """The region step alone does not fall back to the whole picture for a box it cannot use."""
    outline = TendonRegions(_Model(), Hint(box=(200, 130, 300, 200)))(_frames(1, rng), PICTURE)[0]
    assert not outline.any()


def test_a_point_far_from_every_region_finds_nothing(rng):
    outline = TendonRegions(_Model(), Hint(points=((150, 115),)))(_frames(1, rng), PICTURE)[0]
    assert not outline.any()


def test_an_unsure_model_and_a_fragment_are_reported(rng):
    unsure = TendonRegions(_Model(inside=0.6))
    unsure(_frames(1, rng), PICTURE)
    assert [code for code, _ in outline_warnings(unsure.report())] == ["low_confidence_tendon"]
    tiny = TendonRegions(_Model(regions=lambda i: ((10, 10, 14, 14),)))
    tiny(_frames(1, rng), PICTURE)
    report = tiny.report()
    assert report.fragment and [code for code, _ in outline_warnings(report)] == ["low_confidence_tendon"]


def test_the_result_carries_confidence_and_the_warning(rng, settings):
    clip = Clip.in_memory(_frames(6, rng), "clip", SourceInfo(format="array", colour="RGB"), fps=10.0)
    result = analyze(
        clip, AnalyzeOptions(hint=Hint(points=((50, 90),))), segmenter=_Model(inside=0.6), settings=settings
    )
    assert result.roi.source == "model" and result.roi.hint == "points"
    assert result.roi.confidence == pytest.approx(0.6) and result.roi.movement < CHANGE_LIMIT
    assert result.roi.outlines == 1
    assert result.roi.bbox.model_dump() == dict(zip(("x0", "y0", "x1", "y1"), LOWER, strict=True))
    assert "low_confidence_tendon" in [w.code for w in result.warnings]


@pytest.mark.parametrize(
    ("box", "points", "expected"),
    [
        (None, None, None),
        ("1,2,30,40", None, Hint(box=(1, 2, 30, 40))),
        (None, ["5,6"], Hint(points=((5, 6),))),
        (None, "5,6;7,8", Hint(points=((5, 6), (7, 8)))),
    ],
    ids=["none", "box", "point", "two-points"],
)
def test_parse_hint(box, points, expected):
    assert parse_hint(box, points) == expected


@pytest.mark.parametrize(("box", "points"), [("1,2,3", None), (None, ["5"]), (None, ["-1,4"]), (None, ["1,1"] * 17)])
def test_malformed_hints_are_named_errors(box, points):
    with pytest.raises(InvalidROI):
        parse_hint(box, points)


def test_a_moving_clip_of_specks_is_a_fragment_with_a_confidence(rng):
    speck = (70, 50, 72, 52)  # 4 px of a 160 x 120 picture, somewhere else on every frame
    model = _Model(regions=lambda i: ((speck[0] + 3 * i, speck[1], speck[2] + 3 * i, speck[3]),), inside=0.6)
    regions = TendonRegions(model)
    regions(np.concatenate([_frames(1, rng, first=i) for i in range(10)]), PICTURE)  # a new picture every frame
    report = regions.report()
    assert report.outlines == 10 and report.fragment
    assert report.confidence == pytest.approx(0.6)  # from the frames' own outlines, not None
    assert "tendon_outline_moved" in [code for code, _ in outline_warnings(report)]


def test_outlines_that_disagree_on_one_picture_leave_each_frame_its_own(rng):
    """The model unsure of a still picture (its outlines jump): no majority scrap, each frame its own outline."""
    third = (100, 60, 150, 110)
    model = _Model(regions=lambda i: ((UPPER,), (LOWER,), (third,))[i % 3], inside=0.9)
    regions = TendonRegions(model)
    masks = regions(_frames(3, rng), PICTURE)  # three frames, three places: no pixel has a majority
    assert masks.shape == (3, H, W)
    assert [_box(m) for m in masks] == [UPPER, LOWER, third]
    report = regions.report()
    assert report.outlines == 1 and report.confidence < 0.7  # low agreement: low confidence
    assert [code for code, _ in outline_warnings(report)] == ["low_confidence_tendon"]


class _JudgingModel(_Model):
    """``_Model`` with a presence head: ``presence(frame index)`` is its probability that a tendon is there."""

    def __init__(self, presence, **kwargs) -> None:
        super().__init__(**kwargs)
        self.presence = presence

    def assess(self, frames, *, area=None):
        from models import Assessment

        judged = np.array([self.presence(int(frame[0, 0, 0])) for frame in frames], np.float32)
        return Assessment(self.probabilities(frames, area=area), judged)


def test_a_picture_judged_to_hold_no_tendon_gets_no_outline_unless_a_hint_says_where(rng, settings):
    frames = _frames(6, rng)
    absent = TendonRegions(_JudgingModel(lambda i: 0.1))
    assert not absent(frames, PICTURE).any() and absent.report().presence == pytest.approx(0.1)
    assert absent.report().absent
    present = TendonRegions(_JudgingModel(lambda i: 0.9))
    assert _box(present(frames, PICTURE)[0]) == UPPER and present.report().presence == pytest.approx(0.9)
    assert not present.report().absent
    # one voting frame of three judged empty: the majority keeps the outline
    mixed = TendonRegions(_JudgingModel(lambda i: 0.1 if i == 0 else 0.9))
    assert _box(mixed(frames, PICTURE)[0]) == UPPER and not mixed.report().absent
    hinted = TendonRegions(_JudgingModel(lambda i: 0.1), Hint(points=((50, 90),)))
    assert _box(hinted(frames, PICTURE)[0]) == LOWER and not hinted.report().absent
    clip = Clip.in_memory(frames, "clip", SourceInfo(format="array", colour="RGB"), fps=10.0)
    result = analyze(clip, AnalyzeOptions(), segmenter=_JudgingModel(lambda i: 0.1), settings=settings)
    assert result.roi.presence == pytest.approx(0.1) and result.roi.area_px == 0
    (warning,) = [w for w in result.warnings if w.code == "no_tendon_found"]
    assert "judged the picture to hold no tendon (presence 0.10)" in warning.message
    plain = analyze(clip, AnalyzeOptions(), segmenter=_Model(), settings=settings)
    assert plain.roi.presence is None and plain.roi.area_px > 0


def test_low_confidence_names_the_hint_in_every_interface(rng):
    """HTTP and Python users are not sent to command-line flags alone."""
    unsure = TendonRegions(_Model(inside=0.6))
    unsure(_frames(1, rng), PICTURE)
    tiny = TendonRegions(_Model(regions=lambda i: ((10, 10, 14, 14),)))
    tiny(_frames(1, rng), PICTURE)
    for report in (unsure.report(), tiny.report()):
        message = dict(outline_warnings(report))["low_confidence_tendon"]
        assert "give a hint (roi_hint or tendon_point; --roi-hint or --tendon-point on the command line" in message

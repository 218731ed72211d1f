"""Pixel size from the depth scale: the gallery (``depth_gallery.py``, known sizes), its negatives, the
parts (lattice, digit shapes), the calibration hook, and real screens and DICOMs where they are present.

Real files (``../shared/realdata``): the Mindray DC-8 screenshots show a scale numbered 0-3 beside a
picture whose parameters say ``D 3.5`` (3.5 cm deep); the Mindray DC-30 and GE LOGIQ DICOMs carry an
ultrasound region whose stated pixel size is the ground truth; the Voluson and Philips DICOMs have scales
without readable numbers and must be refused; the GE LOGIQ Book clip has four numbered ticks in a panel.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.pipeline.decode import Clip, Limits, SourceInfo, UltrasoundRegion, decode
from app.pipeline.measure.scan import ScanParams, set_up
from app.pipeline.screen.calibration import ScreenCalibration, calibrate_from_screen
from app.pipeline.screen.depth_digits import digit_scores, glyph_shape
from app.pipeline.screen.depth_scale import SOURCE, _digit_like, read_depth_scale
from app.pipeline.screen.depth_ticks import Band, fit
from tests.app.pipeline.screen import depth_gallery as gallery

REAL = Path(__file__).resolve().parents[5] / "shared" / "realdata"
LIMITS = Limits(max_bytes=1 << 30, max_frame_pixels=4096 * 4096, max_frames=10_000, max_total_pixels=2 * 10**9)
TOLERANCE = 0.02  # the target: mm per pixel within 2 % of the truth
# what gives the cm per tick, and how many, on each family
RULES = {
    "ge": ("labels", 0.5),
    "mindray": ("labels", 0.5),
    "philips": ("labels", 0.5),
    "siemens": ("labels", 0.5),
    "canon": ("labels", 0.5),
    "logiq": ("labels", 0.25),
    "two_cm": ("labels", 0.5),
    "ticks_only": ("tick_lengths", 0.5),
    "navy": ("labels", 0.5),
}
REFUSALS = {
    "no_scale": "no regular column of tick marks",
    "disagree": "ticks and labels disagree",
    "uneven": "labels",
    "grey_bar": "no regular column of tick marks",
    "colour_bar": "no regular column of tick marks",
}


def _screens():
    return [pytest.param(spec, id=spec.name) for spec in gallery.gallery()]


# --- the gallery -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["png", "jpeg", "h264"])
@pytest.mark.parametrize("spec", _screens())
def test_every_gallery_screen_is_read_within_two_percent(spec, encoding):
    screen = gallery.draw(spec, frames=3 if encoding == "h264" else 1)
    scale = read_depth_scale(gallery.encoded(screen, encoding), screen.picture)
    assert scale.why_not is None, scale.why_not
    assert scale.mm_per_px == pytest.approx(screen.mm_per_px, rel=TOLERANCE)
    rule, cm = RULES[spec.family]
    assert (scale.evidence["rule"], scale.evidence["cm_per_tick"]) == (rule, cm)
    assert scale.evidence["side"] == gallery.STYLES[spec.family].side
    assert scale.evidence["tick_spacing_px"] == pytest.approx(10 * cm / screen.mm_per_px, rel=TOLERANCE)


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in gallery.negatives()])
@pytest.mark.parametrize("encoding", ["png", "jpeg"])
def test_screens_without_a_trustworthy_scale_are_refused_with_a_reason(spec, encoding):
    screen = gallery.draw(spec)
    scale = read_depth_scale(gallery.encoded(screen, encoding), screen.picture)
    assert scale.mm_per_px is None
    assert REFUSALS[spec.family] in scale.why_not


def test_disagreeing_labels_are_named_in_the_reason():
    (spec,) = [s for s in gallery.negatives() if s.family == "disagree"]
    screen = gallery.draw(spec)
    scale = read_depth_scale(screen.frames, screen.picture)
    assert scale.evidence["labels"] == [0, 2, 4, 6, 8] and scale.evidence["major_every"] == 2
    assert "0.5 cm" in scale.why_not and "1 cm" in scale.why_not


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in gallery.gallery()[::3]])
def test_the_picture_rectangle_need_not_be_exact(spec):
    """A picture found a few px off, cut short where the deep rows are dark, or starting a third down under a gel
    stand-off (no speckle there), reads the same."""
    screen = gallery.draw(spec)
    x0, y0, x1, y1 = screen.picture
    truth = read_depth_scale(screen.frames, screen.picture).mm_per_px
    standoff = (x0, y0 + (y1 - y0) // 3, x1, y1)
    for area in ((x0 + 4, y0 + 3, x1 - 4, y1 - (y1 - y0) // 5), (x0 - 4, y0 - 3, x1 + 4, y1), standoff):
        assert read_depth_scale(screen.frames, area).mm_per_px == pytest.approx(truth, rel=1e-3)


def test_noise_and_dot_grids_are_never_read_as_a_scale():
    """Random pixels and regular dot grids around random pictures: marks fall on lattices by chance, but the
    grey between them is as bright as they are, or they are too close together to be ticks."""
    rng = np.random.default_rng(7)
    for trial in range(150):
        h, w = int(rng.integers(8, 400)), int(rng.integers(8, 500))
        frames = rng.integers(0, 256, (int(rng.integers(1, 5)), h, w, 3), dtype=np.uint8)
        if trial % 2:
            frames[:] = 0
            frames[:, :: int(rng.integers(3, 12)), :: int(rng.integers(2, 6))] = 255
        (x0, x1), (y0, y1) = np.sort(rng.integers(-5, w + 5, 2)), np.sort(rng.integers(-5, h + 5, 2))
        assert read_depth_scale(frames, (int(x0), int(y0), int(x1), int(y1))).mm_per_px is None, trial


def test_no_picture_no_scale():
    frames = np.zeros((1, 120, 160, 3), np.uint8)
    assert read_depth_scale(frames, (0, 0, 10, 10)).why_not is not None
    assert calibrate_from_screen(frames, None) == (None, "no picture was found to read a depth scale beside")


# --- the parts -------------------------------------------------------------------------------------------------


def test_the_lattice_keeps_the_true_spacing_among_stray_marks_and_gaps():
    rng = np.random.default_rng(3)
    ticks = 40 + 31.7 * np.arange(12)
    y = np.sort(np.concatenate([np.delete(np.round(ticks), [3, 7]), rng.uniform(40, 400, 4)]))
    lattice = fit(y, 400)
    assert lattice is not None and lattice.p == pytest.approx(31.7, abs=0.1)
    assert len(np.unique(lattice.k)) >= 10


@pytest.mark.parametrize(("marks", "most", "most_of_four"), [(10, 3, 15), (25, 3, 3), (60, 0, 0)])
def test_random_marks_rarely_fit_a_lattice(marks, most, most_of_four):
    """Alone the lattice lets through about 1 % of random columns with five nodes or more, and a few % more with
    four (which must then stand off the picture); tick shapes and brightness stop the rest."""
    rng = np.random.default_rng(4)
    found = [f for f in (fit(np.sort(rng.uniform(0, 400, marks)), 400) for _ in range(200)) if f is not None]
    nodes = [len(np.unique(f.k)) for f in found]
    assert sum(n >= 5 for n in nodes) <= most
    assert sum(n == 4 for n in nodes) <= most_of_four


def test_four_ticks_of_a_shallow_picture_are_a_lattice():
    """A 1.8 cm picture ticked every 0.5 cm: four ticks, 55.75 px apart, each drawn on a whole row."""
    lattice = fit(np.round(126 + 55.75 * np.arange(4)), 252)
    assert lattice is not None and lattice.p == pytest.approx(55.75, abs=0.3)


def test_a_mark_past_a_break_at_the_end_is_no_tick():
    """Text in a status strip below the picture that falls on the lattice three nodes past the last tick."""
    y = np.concatenate([112 + 49.6 * np.arange(11), [112 + 49.6 * 13]])
    lattice = fit(np.round(y), 515, 768)
    assert lattice is not None and sorted(np.unique(lattice.k)) == list(range(11))


@pytest.mark.parametrize("font", sorted(gallery.HERSHEY))
@pytest.mark.parametrize(
    ("scale", "jpeg"), [(0.5, False), (0.8, False), (1.4, False), (0.8, True), (1.4, True)], ids=str
)
def test_each_digit_reads_best_as_itself(font, scale, jpeg):
    """Each digit in each Hershey face, 11 to 30 px tall (16 to 30 after JPEG q75), agrees best (alone) and at
    least 0.8 with itself. Smaller or blurred glyphs may not: the labels are read as a sequence, not alone."""
    face = gallery.HERSHEY[font]
    for digit in "0123456789":
        canvas = np.zeros((100, 100), np.uint8)
        cv2.putText(canvas, digit, (20, 70), face, scale * (2 if font == "plain" else 1), 255, 1, cv2.LINE_AA)
        if jpeg:
            canvas = cv2.imdecode(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_GRAYSCALE)
        ys, xs = np.nonzero(canvas > 64)
        scores = digit_scores(glyph_shape(canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]))
        best = np.sort(scores)
        assert scores[int(digit)] == best[-1] > best[-2] and best[-1] >= 0.8, (digit, np.round(scores, 2))


# --- the calibration hook --------------------------------------------------------------------------------------


def _gallery_clip(family: str, regions=()) -> tuple[Clip, gallery.Screen]:
    (spec,) = [s for s in gallery.gallery() if s.family == family][:1]
    screen = gallery.draw(spec, frames=2)
    clip = Clip.in_memory(screen.frames, "screen", SourceInfo(format="array", colour="RGB"), regions=regions)
    return clip, screen


def test_a_screenshot_is_calibrated_from_its_depth_scale():
    clip, screen = _gallery_clip("mindray")
    setup = set_up(clip, screen.frames, ScanParams(2.0, 20))
    assert setup.why_uncalibrated is None and isinstance(setup.calibration, ScreenCalibration)
    assert setup.calibration.source == SOURCE == "screen_depth_scale"
    assert setup.calibration.mm_per_px_x == setup.calibration.mm_per_px_y
    assert setup.calibration.mm_per_px_y == pytest.approx(screen.mm_per_px, rel=TOLERANCE)
    assert setup.calibration.evidence["labels"] == list(range(len(setup.calibration.evidence["labels"])))
    assert setup.band.width_mm == 2.0


def test_the_dicom_region_comes_first():
    clip, screen = _gallery_clip("mindray")
    region = UltrasoundRegion((0, 0, clip.width, clip.height), 1, 1, 3, 3, 0.01, 0.01)
    with_region = Clip.in_memory(screen.frames, "screen", SourceInfo(format="dicom", colour="RGB"), regions=(region,))
    setup = set_up(with_region, screen.frames, ScanParams(2.0, 20))
    assert setup.calibration.source == "dicom_ultrasound_region" and setup.calibration.mm_per_px_x == 0.1


def test_without_a_scale_the_reason_is_given():
    (spec,) = [s for s in gallery.negatives() if s.family == "disagree"]
    screen = gallery.draw(spec)
    clip = Clip.in_memory(screen.frames, "screen", SourceInfo(format="array", colour="RGB"))
    setup = set_up(clip, screen.frames, ScanParams(2.0, 20))
    assert setup.calibration is None
    assert setup.why_uncalibrated.startswith("the input states no physical pixel size, and ")
    assert "ticks and labels disagree" in setup.why_uncalibrated


# --- real screens ----------------------------------------------------------------------------------------------


def _real(*parts: str) -> Path:
    path = REAL.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path.name} is not here")
    return path


@pytest.mark.parametrize("name", ["mindray_dc8_bmode_long.png", "mindray_dc8_bmode_trans.png"])
def test_mindray_dc8_screens(name):
    """Ticks every 0.5 cm numbered 0-3; the long view's picture (rows 120-718) is 3.5 cm deep (``D 3.5``)."""
    rgb = cv2.cvtColor(cv2.imread(str(_real("screens", name))), cv2.COLOR_BGR2RGB)
    scale = read_depth_scale(rgb[None], (180, 120, 832, 718))
    assert scale.evidence["labels"] == [0, 1, 2, 3] and scale.evidence["cm_per_tick"] == 0.5
    assert scale.mm_per_px == pytest.approx(35.0 / (718 - 120), rel=0.01)


def test_ge_logiq_book_clip_is_refused():
    """Four numbered ticks in a side panel, touching their numbers: too few ticks to fit a lattice."""
    clip = decode(_real("screens", "ge_logiq_bmode_spectral.mov"), LIMITS)
    frames = next(iter(clip.batches(8)))[1]
    scale = read_depth_scale(frames, (168, 40, 344, 256))
    assert scale.mm_per_px is None and scale.why_not


@pytest.mark.parametrize(
    "name",
    ["orthanc_2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm", "orthanc_jp2k91YBR-ICT.dcm"],
    ids=["mindray_dc30", "ge_logiq"],
)
def test_real_dicom_scales_match_their_ultrasound_region(name):
    clip = decode(_real("dicom", name), LIMITS)
    (region,) = [r for r in clip.regions if r.spatial_format == 1]
    scale = read_depth_scale(clip.read(0, 1), region.bbox)
    assert scale.mm_per_px == pytest.approx(region.delta_y * 10, rel=0.005)


@pytest.mark.parametrize(
    "name", ["orthanc_Issue164.dcm", "orthanc_Implicit-vr-us-palette.dcm"], ids=["voluson", "philips"]
)
def test_real_dicom_scales_without_readable_numbers_are_refused(name):
    clip = decode(_real("dicom", name), LIMITS)
    (region,) = [r for r in clip.regions if r.spatial_format == 1]
    scale = read_depth_scale(clip.read(0, 1), region.bbox)
    assert scale.mm_per_px is None and "tell how many cm a tick is" in scale.why_not


def test_digit_shaped_speckle_on_the_picture_is_no_label():
    """A label glyph must stand on the screen's dark background: the same digit drawn over speckle is not read
    (speckle beside a column, inside the picture, can take a digit's shape)."""
    rng = np.random.default_rng(5)
    luma = np.zeros((60, 100), np.uint8)
    luma[:, 50:] = rng.integers(40, 110, (60, 50), dtype=np.uint8)  # the picture's speckle right of x = 50
    for x in (10, 70):
        cv2.putText(luma, "2", (x, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    band = Band("left", 0, 0, luma.copy(), luma, 480)
    (dark,) = [b for b in band.glyphs if b[2] <= 50]
    speckle = dark + np.array([60, 0, 60, 0])  # the same glyph's box, 60 px right
    assert band.digit_scores(tuple(int(v) for v in speckle)) is not None  # it has a digit's shape there too
    assert _digit_like(band, dark) and not _digit_like(band, speckle)


@pytest.mark.parametrize("family", ["ge", "philips", "siemens"])
def test_thumbnails_beside_the_scale_do_not_hide_it(family):
    """Thumbnails of earlier images down the screen's side (a clipboard), a fifth of the width beyond the picture on
    the scale's side: speckle on the dark background, more marks than a scale has. The scale is read between."""
    spec = next(s for s in gallery.gallery() if s.family == family and s.height >= 600)
    screen = gallery.draw(spec)
    frame = screen.frames[0].copy()
    h, w = frame.shape[:2]
    x0, _, x1, _ = screen.picture
    side = gallery.STYLES[family].side
    left = x1 + round(0.13 * w) if side == "right" else x0 - round(0.24 * w)
    rng = np.random.default_rng(5)
    for k in range(4):
        top = round((0.1 + 0.21 * k) * h)
        size = (round(0.16 * h), round(0.11 * w))
        frame[top : top + size[0], left : left + size[1]] = (
            rng.rayleigh(50, size).clip(0, 255).astype(np.uint8)[..., None]
        )
    scale = read_depth_scale(frame[None], screen.picture)
    assert scale.why_not is None, scale.why_not
    assert scale.mm_per_px == pytest.approx(screen.mm_per_px, rel=TOLERANCE)


def test_a_two_digit_label_is_one_group_when_its_glyphs_differ_in_height():
    """A "10" where the "0" stands a pixel taller than the "1": its centre row lies above the "1"'s. The glyphs are
    grouped left to right, so the "0" joins the "1" instead of starting a label of its own ("10" read as "1")."""
    from app.pipeline.screen.depth_scale import _group

    one, zero = (100, 210, 104, 222), (107, 209, 115, 222)
    other = (100, 250, 108, 262)  # the next label down
    groups = _group(np.array([zero, other, one], dtype=float))
    assert sorted(len(g) for g in groups) == [1, 2]
    (pair,) = [g for g in groups if len(g) == 2]
    assert [tuple(b) for b in pair] == [one, zero]

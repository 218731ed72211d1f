"""The whole pipeline through ``analyze``: synthetic images with known answers, a fake tendon model, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cuda_ops
from app.config import Settings
from app.errors import DeviceUnavailable, InvalidROI, NoTendonModel, UsageError
from app.pipeline import AnalyzeOptions, RoiSpec, analyze, run_analysis
from app.schemas import RESULT_SCHEMA


def test_rectangle_roi_known_answer(doppler_png, settings):
    path, truth = doppler_png
    result = analyze(path, AnalyzeOptions(roi=RoiSpec(rect=truth["roi"])), settings=settings)
    s = result.summary
    assert result.ok and result.error is None and result.schema_ == RESULT_SCHEMA
    assert (s.doppler_px, s.tendon_area_px, s.vessel_count) == (truth["doppler"], truth["area"], truth["vessels"])
    assert s.colour_fraction == pytest.approx(0.01)
    assert s.grades.modified_ohberg == 3 and s.grades.colour_fraction_grade == 1
    assert (s.grade, s.grade_scale) == (3, "modified_ohberg")
    assert s.thickness_mm is None and s.area_mm2 is None and result.calibration is None
    assert result.roi.source == "user" and result.roi.kind == "rectangle" and result.roi.area_px == 6000
    assert result.roi.bbox.model_dump() == dict(zip(("x0", "y0", "x1", "y1"), truth["roi"], strict=True))
    assert result.frames[0].model_dump() == {
        "index": 0, "colour_fraction": 0.01, "doppler_px": 60, "tendon_area_px": 6000, "flash": False,
        # no box on this image: the image area stands in (160 of 19200 pixels coloured); the 20 px band
        # around the rectangle holds no colour
        "box_colour_fraction": 160 / 19200, "band_colour_fraction": 0.0,
    }  # fmt: skip
    assert (
        result.input == "study-01.png"
        and result.device == "cpu"
        and result.backend in cuda_ops.available_backends("cpu")[:1]
    )
    assert result.model is None
    assert [w.code for w in result.warnings] == ["uncalibrated", "colour_box_not_found"]  # blobs, no box outline
    assert set(result.timing_ms) == {"decode", "screen", "segment", "count", "select", "grade"}


def test_mask_roi_equals_rectangle(doppler_image, settings):
    image, truth = doppler_image
    mask = np.zeros(image.shape[:2], bool)
    x0, y0, x1, y1 = truth["roi"]
    mask[y0:y1, x0:x1] = True
    by_mask = analyze(image, AnalyzeOptions(roi=RoiSpec(mask=mask)), settings=settings)
    by_rect = analyze(image, AnalyzeOptions(roi=RoiSpec(rect=truth["roi"])), settings=settings)
    assert by_mask.summary == by_rect.summary
    assert by_mask.roi.kind == "mask" and by_mask.input == "array"


@pytest.mark.parametrize("specks", [0, 2], ids=["grey", "two-specks"])
def test_grey_image_has_no_doppler_and_no_grade(rng, settings, specks):
    """A B-mode picture (with a coloured speck or two: codec noise) is not graded: "no neovascularity" would be a
    claim about a Doppler study that was never made."""
    grey = np.repeat(rng.integers(0, 256, (40, 50, 1), dtype=np.uint8), 3, axis=2)
    grey[20, 10 : 10 + specks] = (200, 30, 30)
    result = analyze(grey, AnalyzeOptions(roi=RoiSpec(rect=(0, 0, 50, 40))), settings=settings)
    assert result.summary.colour_fraction is None and result.summary.vessel_count is None
    assert result.summary.grades.model_dump() == {"modified_ohberg": None, "colour_fraction_grade": None}
    assert result.summary.grade is None and result.summary.doppler_px == specks
    assert result.doppler.mode == "none"
    (warning,) = [w for w in result.warnings if w.code == "no_doppler_mode"]
    assert "no colour fraction" in warning.message


def test_analysis_masks(doppler_image, settings):
    image, truth = doppler_image
    analysis = run_analysis(image, AnalyzeOptions(roi=RoiSpec(rect=truth["roi"])), settings=settings)
    assert analysis.roi_mask.sum() == truth["area"] and analysis.doppler_mask.sum() == truth["doppler"]
    assert not (analysis.doppler_mask & ~analysis.roi_mask).any()


def test_without_roi_or_model(doppler_png, settings):
    with pytest.raises(NoTendonModel, match="--roi"):
        analyze(doppler_png[0], settings=settings)


def test_roi_outside_image(doppler_png, settings):
    with pytest.raises(InvalidROI, match="160x120"):
        analyze(doppler_png[0], AnalyzeOptions(roi=RoiSpec(rect=(0, 0, 161, 10))), settings=settings)


def test_devices(doppler_png, settings):
    roi = RoiSpec(rect=(0, 0, 10, 10))
    with pytest.raises(UsageError):
        analyze(doppler_png[0], AnalyzeOptions(roi=roi, device="tpu"), settings=settings)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable, match="no CUDA GPU"):
            analyze(doppler_png[0], AnalyzeOptions(roi=roi, device="cuda"), settings=settings)


@pytest.mark.parametrize(
    "options",
    [{"every": 0}, {"every": -1}, {"every": 2.5}, {"every": True}, {"max_frames": 0}, {"max_frames": -5}],
    ids=["every-0", "every-negative", "every-float", "every-bool", "max-frames-0", "max-frames-negative"],
)
def test_frame_sampling_must_be_a_whole_number_from_1(options):
    """As on the command line and over HTTP: 0 or less measured every frame unseen, a float raised a TypeError."""
    with pytest.raises(UsageError, match=f"{next(iter(options))} must be a whole number >= 1"):
        AnalyzeOptions(**options)


class _FakeSegmenter:
    """Stands in for the tendon model: a fixed band on every frame, or nothing."""

    name, sha256 = "fake", "0" * 64

    def __init__(self, rect: tuple[int, int, int, int] | None) -> None:
        self.rect = rect
        self.calls = 0

    def predict(self, frames: np.ndarray, *, area=None) -> np.ndarray:
        self.calls += 1
        self.area = area
        masks = np.zeros(frames.shape[:3], bool)
        if self.rect is not None:
            x0, y0, x1, y1 = self.rect
            masks[:, y0:y1, x0:x1] = True
        return masks


def test_model_roi(doppler_image, settings):
    image, truth = doppler_image
    segmenter = _FakeSegmenter(truth["roi"])
    result = analyze(image, segmenter=segmenter, settings=settings)
    assert segmenter.calls == 1 and segmenter.area == (0, 0, 160, 120)  # the picture: the whole frame here
    assert result.roi.source == "model" and result.roi.kind == "segmentation"
    assert result.model.model_dump() == {"name": "fake", "sha256": "0" * 64}
    assert result.summary.doppler_px == truth["doppler"]


def test_model_finds_no_tendon(doppler_image, settings):
    result = analyze(doppler_image[0], segmenter=_FakeSegmenter(None), settings=settings)
    assert result.ok and result.summary.colour_fraction is None and result.summary.grade is None
    assert "no_tendon_found" in [w.code for w in result.warnings]


def test_clip_selects_frame_with_most_colour(doppler_image, settings):
    image, truth = doppler_image
    grey = image.copy()
    x0, y0, x1, y1 = truth["roi"]
    grey[y0:y1, x0:x1] = 128
    more = image.copy()
    more[60:68, 40:65] = (250, 200, 0)  # one extra blob, apart from the others: 200 px
    clip = np.stack([grey, image, more])
    result = analyze(clip, AnalyzeOptions(roi=RoiSpec(rect=truth["roi"])), settings=settings)
    assert [f.doppler_px for f in result.frames] == [0, 60, 60 + 200]
    assert result.summary.frame_index == 2 and result.summary.vessel_count == 4


def test_python_api_loads_the_shipped_model_by_default():
    from app.config import REPO_ROOT
    from models.training.synth import make_sample

    settings = Settings(weights_dir=REPO_ROOT / "weights", device="cpu")
    result = analyze(make_sample(321).image, settings=settings)
    assert result.roi.source == "model" and result.model is not None
    assert (
        result.model.sha256 == json.loads((REPO_ROOT / "weights" / "MANIFEST.json").read_text())["models"][0]["sha256"]
    )
    assert result.summary.tendon_area_px > 0

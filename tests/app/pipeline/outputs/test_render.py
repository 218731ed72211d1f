"""One outputs module for the CLI and the API: each file made only when asked for, from the one analysis."""

from __future__ import annotations

import cv2
import numpy as np

from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.outputs import CURVE, MASK, OVERLAY, SC, SR, OutputRequest, render


def _analysis(doppler_image, settings):
    image, truth = doppler_image
    roi = RoiSpec.from_text(",".join(map(str, truth["roi"])))
    return run_analysis(image, AnalyzeOptions(roi=roi), settings=settings)


def test_nothing_asked_nothing_made(doppler_image, settings):
    rendered = render(_analysis(doppler_image, settings), OutputRequest())
    assert rendered.files == {} and rendered.warnings == []


def test_mask_png_is_the_region(doppler_image, settings):
    analysis = _analysis(doppler_image, settings)
    rendered = render(analysis, OutputRequest(masks=True))
    mask = cv2.imdecode(np.frombuffer(rendered.files[MASK], np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask > 0, analysis.roi_mask)


def test_overlays_of_a_still_have_no_curve(doppler_image, settings):
    rendered = render(_analysis(doppler_image, settings), OutputRequest(overlays=True))
    assert list(rendered.files) == [OVERLAY] and CURVE not in rendered.files


def test_a_dicom_report_of_an_image_that_is_not_dicom_is_a_warning(doppler_image, settings):
    rendered = render(_analysis(doppler_image, settings), OutputRequest(dicom=True))
    assert SR not in rendered.files and SC not in rendered.files
    assert [w.code for w in rendered.warnings] == ["dicom_out_not_written"]
    assert "not DICOM" in rendered.warnings[0].message

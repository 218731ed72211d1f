"""The Result's sections: bounding boxes, the region, calibration and the failure Result."""

from __future__ import annotations

import numpy as np

from app.errors import DecodeError
from app.pipeline.decode import Calibration
from app.pipeline.report import bbox, calibration_section, failure_result, roi_section


def test_bbox_is_half_open_and_none_when_empty():
    mask = np.zeros((10, 12), bool)
    assert bbox(mask) is None
    mask[2:5, 3:9] = True
    box = bbox(mask)
    assert (box.x0, box.y0, box.x1, box.y1) == (3, 2, 9, 5)


def test_roi_section_names_its_source():
    mask = np.zeros((10, 12), bool)
    mask[1:3, 1:4] = True
    model, drawn = roi_section(mask, None), roi_section(mask, "rectangle")
    assert (model.source, model.kind, model.area_px) == ("model", "segmentation", 6)
    assert (drawn.source, drawn.kind) == ("user", "rectangle")


def test_calibration_section():
    assert calibration_section(None) is None
    section = calibration_section(Calibration(0.1, 0.2, "dicom_ultrasound_region"))
    assert (section.mm_per_px_x, section.mm_per_px_y, section.source) == (0.1, 0.2, "dicom_ultrasound_region")


def test_a_failure_names_the_file_not_its_folder():
    result = failure_result("/data/patient-folder/study.dcm", DecodeError("truncated"))
    assert result.ok is False and result.input == "study.dcm" and result.error.code == "decode_error"
    assert result.summary is None

"""Say when unsure: a box taken from the colour extent is flagged in the Result and on the overlay; an outline
wins over the extent wherever the two disagree."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.decode import Calibration
from app.pipeline.grading.quality import Facts, warnings_for
from app.pipeline.screen.doppler_box import extent_box, rect_box
from app.pipeline.screen.parse import Screen, find_screen
from tests.app.pipeline.screen.gallery import Spec, colour_map, extent, ge_cf, render

THRESHOLD = 40
render_module = importlib.import_module("app.pipeline.outputs.render")  # the package exports a function of that name
OUTLINED = Screen(
    image_area=(0, 0, 200, 100), mode="colour", boxes=(rect_box((50, 10, 150, 90), "rectangle", "outline"),)
)
FACTS = Facts(
    screen=OUTLINED, model_roi=False, roi_px=2000, roi_outside_box_px=0, denominator_px=2000, box_fraction=0.1,
    doppler_outside_box_px=0, outside_box_px=12000, calibration=Calibration(0.1, 0.1, "t"), why_uncalibrated=None,
    flash_rejected=0, all_flash=False, fallback=None,
)  # fmt: skip


def _codes(facts: Facts) -> list[str]:
    return [code for code, _ in warnings_for(facts)]


def test_extent_box_warns_and_outline_does_not():
    mask = np.zeros((100, 200), bool)
    mask[30:60, 70:120] = True
    from_extent = replace(OUTLINED, boxes=(extent_box(mask),))
    assert "colour_box_from_extent" not in _codes(FACTS)
    codes = _codes(replace(FACTS, screen=from_extent))
    assert "colour_box_from_extent" in codes and "colour_box_not_found" not in codes
    (message,) = [m for c, m in warnings_for(replace(FACTS, screen=from_extent)) if c == "colour_box_from_extent"]
    assert "50x30 px" in message


@pytest.mark.parametrize("scale", [1.0, 2.25])
def test_extent_leaves_out_far_specks(scale):
    """A depth mark's or a logo's speck in a flow colour far from the flow does not stretch the box; a speck of
    flow near the rest does, and specks alone make their own extent."""
    mask = np.zeros((600, 900), bool)
    mask[200:260, 300:420] = True  # a vessel
    mask[300:304, 330:333] = True  # 12 px: a piece of flow at 640, a speck near the vessel on a larger screen
    mask[500:502, 880:882] = True  # a tick mark's speck, far from the flow
    box = extent_box(mask, scale)
    assert box is not None and box.source == "colour_extent"
    assert box.bbox == (300, 200, 420, 304)
    mask[560:562, 40:42] = True  # another far speck, and one more near the vessel
    mask[190:192, 440:442] = True
    assert extent_box(mask, scale).bbox == (300, 190, 442, 304)
    specks = np.zeros((600, 900), bool)
    specks[10:12, 10:12] = specks[50:52, 160:162] = True
    assert extent_box(specks, scale).bbox == (10, 10, 162, 52)  # nothing but specks: their extent
    assert extent_box(np.zeros((600, 900), bool), scale) is None


@pytest.mark.parametrize(("layout", "flagged"), [(extent(), True), (ge_cf(), False)], ids=["extent", "outline"])
def test_result_and_overlay_say_so(layout, flagged, settings, monkeypatch):
    """End to end: the warning in the Result, the caption line on the overlay, only for an extent box."""
    case = render(Spec("e2e", layout))
    analysis = run_analysis(case.frames[0], AnalyzeOptions(roi=RoiSpec(rect=(150, 60, 420, 330))), settings=settings)
    sources = {box.source for box in analysis.result.doppler.boxes}
    assert sources == ({"colour_extent"} if flagged else {"outline"})
    codes = [w.code for w in analysis.result.warnings]
    assert ("colour_box_from_extent" in codes) is flagged
    drawn = {}

    def capture(frame, tendon, counted, **kwargs):
        drawn.update(kwargs)
        return frame

    monkeypatch.setattr(render_module, "render_frame", capture)
    render_module.overlay_image(analysis)
    assert (render_module.EXTENT_CAPTION in drawn["text_lines"]) is flagged


def test_outline_wins_over_the_extent():
    """Colour outside the outline (a mark in a legend colour) widens the extent, never the box."""
    case = render(Spec("wins", ge_cf()))
    frame = case.frames[0].copy()
    rows = colour_map("blue_over_red", 110)
    frame[300:310, 170:180] = rows[20]  # a legend-coloured patch in the picture, below the box
    (box,) = find_screen(frame[None], THRESHOLD).boxes
    assert box.source == "outline" and box.shape == "parallelogram"
    ys = np.nonzero(case.truth.interior)[0]
    assert abs(box.bbox[1] - ys.min()) <= 2 and abs(box.bbox[3] - (ys.max() + 1)) <= 2

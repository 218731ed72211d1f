"""Screen parsing: synthetic screens with exact answers, then real scanner screens (DICOM files).

Synthetic screens are built here: black margins, a speckled B-mode picture, a Doppler box outline of
each shape, flow painted in the legend's colours, a colour bar with known colours, coloured text and an
ECG trace outside the picture. Real screens come from ``../shared/realdata/dicom`` and pydicom's data.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom import examples
from pydicom.pixels import apply_color_lut, pixel_array

import cuda_ops
from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from app.pipeline.decode import UltrasoundRegion
from app.pipeline.screen.parse import find_screen

THRESHOLD = 40
H, W = 480, 640
PICTURE = (40, 60, 580, 400)  # half-open x0, y0, x1, y1
BAR = (600, 120, 614)  # x0, y0, x1 of the vertical colour bar
HALF = 60  # rows of each half of a velocity bar; three black rows between the halves
REAL = Path(__file__).resolve().parents[5] / "shared/realdata/dicom"
SCREENS = REAL.parent / "screens"  # real screen captures without a colour box (negative controls)


# --- synthetic screens -----------------------------------------------------------------------------------------


def _speckle(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.integers(0, 256, (height, width), dtype=np.uint8), (0, 0), 1.2)
    grey = cv2.normalize(noise, None, 30, 200, cv2.NORM_MINMAX)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _ramp(start, stop, rows: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, rows)[:, None]
    return np.rint((1 - t) * np.array(start) + t * np.array(stop)).astype(np.uint8)


def velocity_rows() -> np.ndarray:
    """``(2 * HALF + 3, 3)``: yellow -> red -> dark red, black baseline, dark blue -> blue -> cyan."""
    top = np.concatenate([_ramp((255, 255, 0), (255, 0, 0), HALF // 2), _ramp((240, 0, 0), (90, 0, 0), HALF // 2)])
    bottom = np.concatenate([_ramp((0, 0, 90), (0, 0, 255), HALF // 2), _ramp((0, 30, 255), (0, 255, 255), HALF // 2)])
    return np.concatenate([top, np.zeros((3, 3), np.uint8), bottom])


def power_rows() -> np.ndarray:
    """``(100, 3)``: one ramp, yellow at the top to dark red at the bottom."""
    return np.concatenate([_ramp((255, 255, 0), (255, 60, 0), 50), _ramp((250, 50, 0), (80, 0, 0), 50)])


def blank_screen(rng: np.random.Generator, rows: np.ndarray | None) -> np.ndarray:
    """Black screen, B-mode picture, colour bar (``rows``), yellow text above and an ECG trace below."""
    image = np.zeros((H, W, 3), np.uint8)
    x0, y0, x1, y1 = PICTURE
    image[y0:y1, x0:x1] = _speckle(rng, y1 - y0, x1 - x0)
    if rows is not None:
        image[BAR[1] : BAR[1] + len(rows), BAR[0] : BAR[2]] = rows[:, None, :]
    cv2.putText(image, "PRF 500 Hz  Col 80%", (50, 35), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 220, 0), 1)
    ecg = np.array([(60 + 4 * i, 450 - (25 if i % 20 == 10 else 0) + (i % 3)) for i in range(100)], np.int32)
    cv2.polylines(image, [ecg], False, (40, 200, 60), 1)
    return image


def paint_flow(image: np.ndarray, rng: np.random.Generator, centres, colours) -> None:
    """Speckled elliptical flow patches in the given colours."""
    for (cx, cy), colour in zip(centres, colours, strict=True):
        patch = np.zeros(image.shape[:2], np.uint8)
        cv2.ellipse(patch, (cx, cy), (14, 6), 30, 0, 360, 1, -1)
        patch &= (rng.random(patch.shape) > 0.15).astype(np.uint8)
        image[patch > 0] = colour


def drawn_interior(image_shape, draw) -> np.ndarray:
    """The interior of a closed outline drawn by ``draw(canvas)``: the enclosed hole, outline excluded."""
    canvas = np.zeros(image_shape[:2], np.uint8)
    draw(canvas)
    filled = canvas.copy()
    contours = cv2.findContours(canvas, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
    cv2.drawContours(filled, contours, -1, 1, -1)
    return (filled > 0) & (canvas == 0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def near(a, b, tol: int) -> bool:
    return all(abs(int(p) - int(q)) <= tol for p, q in zip(a, b, strict=True))


RED, BLUE = velocity_rows()[20], velocity_rows()[HALF + 3 + 40]


def test_rectangle_box_bar_text_and_ecg(rng):
    image = blank_screen(rng, velocity_rows())
    cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
    paint_flow(image, rng, [(250, 200), (320, 260)], [RED, BLUE])
    screen = find_screen(image[None], THRESHOLD)

    assert screen.mode == "colour"
    assert [(b.bbox, b.shape, b.source) for b in screen.boxes] == [((151, 121, 420, 330), "rectangle", "outline")]
    assert screen.doppler_box == (151, 121, 420, 330) and screen.box_source == "outline"
    assert screen.box_mask(H, W).sum() == (420 - 151) * (330 - 121)
    assert near(screen.image_area, PICTURE, 4) and screen.image_area_source == "pixels"
    (bar,) = screen.colour_bars
    assert bar.bbox == (BAR[0], BAR[1], BAR[2], BAR[1] + 2 * HALF + 3) and bar.kind == "velocity"
    assert bar.orientation == "vertical" and bar.baseline == BAR[1] + HALF + 1
    excluded = screen.exclude_mask(H, W)
    text_and_ecg = (image.max(axis=2).astype(int) - image.min(axis=2) > THRESHOLD) & ~_inside(PICTURE)
    assert excluded[text_and_ecg].all()  # the bar, the yellow text and the green ECG are never counted
    assert not excluded[screen.box_mask(H, W)].any()


def _inside(rect) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[rect[1] : rect[3], rect[0] : rect[2]] = True
    return mask


def test_velocity_bar_values(rng):
    rows = velocity_rows()
    image = blank_screen(rng, rows)
    (bar,) = find_screen(image[None], THRESHOLD).colour_bars
    base = HALF + 1
    expected = np.array([(base - r) / base for r in range(len(rows))])
    got = bar.value_of(rows)
    assert np.abs(got - expected).max() <= 0.05
    assert got[0] == pytest.approx(1.0, abs=0.02) and got[-1] == pytest.approx(-1.0, abs=0.02)
    assert bar.value_of(np.zeros((1, 3), np.uint8))[0] == pytest.approx(0.0, abs=0.02)
    assert bar.colours.dtype == np.uint8 and bar.values.dtype == np.float32 and len(bar.colours) == len(bar.values)
    assert bar.values.min() >= -1.0 and bar.values.max() <= 1.0


def test_bar_lut_counts_like_the_chroma_rule(rng):
    rows = velocity_rows()
    (bar,) = find_screen(blank_screen(rng, rows)[None], THRESHOLD).colour_bars
    lut = bar.lut(THRESHOLD)
    assert lut.kind == "table" and lut.bits == 6
    assert np.array_equal(lut.is_doppler, cuda_ops.chroma_as_table(THRESHOLD).is_doppler)
    r, g, b = (rows[0] >> 2).astype(int)  # the top colour's cell
    assert lut.value[r, g, b] == pytest.approx(1.0, abs=0.05)
    r, g, b = (rows[-1] >> 2).astype(int)
    assert lut.value[r, g, b] == pytest.approx(-1.0, abs=0.05)


def test_power_bar_one_ramp(rng):
    rows = power_rows()
    image = blank_screen(rng, rows)
    cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
    paint_flow(image, rng, [(250, 200), (320, 260)], [rows[10], rows[60]])
    screen = find_screen(image[None], THRESHOLD)
    assert screen.mode == "power"
    (bar,) = screen.colour_bars
    assert bar.kind == "power"
    got = bar.value_of(rows)
    assert got[0] == pytest.approx(1.0, abs=0.02) and got[-1] == pytest.approx(0.0, abs=0.02)
    assert np.all(np.diff(got) <= 1e-6)  # falls from the bright end to the dark end
    lut = screen.lut(THRESHOLD)
    assert lut.kind == "table" and lut.value.min() >= 0.0 and lut.value.max() <= 1.0


def test_mirrored_power_bar_is_power(rng):
    """GE draws its power legend as one ramp mirrored about a black baseline."""
    half = _ramp((255, 255, 0), (90, 0, 0), HALF)
    rows = np.concatenate([half, np.zeros((2, 3), np.uint8), half[::-1]])
    (bar,) = find_screen(blank_screen(rng, rows)[None], THRESHOLD).colour_bars
    assert bar.kind == "power"
    assert bar.value_of(rows[:1])[0] == pytest.approx(1.0, abs=0.02)
    assert bar.value_of(rows[-1:])[0] == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bright_fibres_touching_the_outline_and_flow_over_it(seed):
    """Tendon fibres as bright as the outline run into and across the box; flow covers 4 px of the line."""
    rng = np.random.default_rng(seed)
    image = blank_screen(rng, velocity_rows())
    level = cv2.GaussianBlur(rng.integers(150, 256, (H, W)).astype(np.float32), (0, 0), 2.0)
    level = np.clip((level - level.mean()) * 4 + 225, 0, 255).astype(np.uint8)  # speckle-modulated fibres
    for k in range(6):
        fibre = np.zeros((H, W), np.uint8)
        y = 140 + 30 * k + int(rng.integers(-5, 5))
        cv2.line(fibre, (int(rng.integers(60, 200)), y), (int(rng.integers(350, 560)), y + 3), 1, 2)
        image[fibre > 0] = level[fibre > 0][:, None]
    cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
    paint_flow(image, rng, [(250, 200), (320, 260)], [RED, BLUE])
    image[228:232, 418:422] = RED
    screen = find_screen(image[None], THRESHOLD)
    assert [(b.bbox, b.shape) for b in screen.boxes] == [((151, 121, 420, 330), "rectangle")]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_loop_closed_by_bright_tissue_inside_the_box_gives_way_to_the_box(seed):
    """A bony cortex rising from the box's bottom line and running to its right side closes a loop with the box's
    own lines; the loop holds a third of the flow, the box all of it: the box is the outline."""
    rng = np.random.default_rng(seed)
    image = blank_screen(rng, velocity_rows())
    cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
    cortex = np.array([(250, 330), (254, 262), (272, 250), (420, 250)], np.int32)
    cv2.polylines(image, [cortex], False, (250, 250, 250), 4)
    paint_flow(image, rng, [(200, 170), (210, 290), (340, 295)], [RED, BLUE, RED])
    (box,) = find_screen(image[None], THRESHOLD).boxes
    assert near(box.bbox, (151, 121, 420, 330), 1)


def test_horizontal_bar(rng):
    """A horizontal bar reads like a vertical one turned a quarter: its right end is the + end."""
    rows = velocity_rows()
    image = blank_screen(rng, None)
    image[12:24, 380 : 380 + len(rows)] = rows[None, :, :]  # yellow at the left end, cyan at the right
    screen = find_screen(image[None], THRESHOLD)
    (bar,) = screen.colour_bars
    assert bar.orientation == "horizontal" and bar.kind == "velocity" and screen.mode == "colour"
    assert bar.bbox == (380, 12, 380 + len(rows), 24) and bar.baseline == 380 + HALF + 1
    assert bar.value_of(rows[-1:])[0] == pytest.approx(1.0, abs=0.02)
    assert bar.value_of(rows[:1])[0] == pytest.approx(-1.0, abs=0.02)


@pytest.mark.parametrize("x", [43, 46, 49, 52, 55])
def test_a_narrow_velocity_bar_survives_jpeg(x):
    """A colour-flow bar 8 px wide, stored as JPEG: the codec blends its two side columns with the black screen,
    a quarter of the steps across each row. Both halves are still found, joined and read as velocity."""
    image = blank_screen(np.random.default_rng(2), None)
    rows = velocity_rows()
    image[100 : 100 + len(rows), x : x + 8] = rows[:, None, :]
    _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    jpeg = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    screen = find_screen(jpeg[None], THRESHOLD)
    assert [bar.kind for bar in screen.colour_bars] == ["velocity"]
    x0, y0, x1, y1 = screen.colour_bars[0].bbox
    assert y0 <= 102 and y1 >= 100 + len(rows) - 2 and x0 <= x + 1 and x1 >= x + 7


def test_mode_from_flow_hues_without_a_legend(rng):
    image = blank_screen(rng, None)
    cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
    paint_flow(image, rng, [(250, 200), (320, 260)], [power_rows()[10], power_rows()[60]])
    screen = find_screen(image[None], THRESHOLD)
    assert screen.mode == "power" and [b.bbox for b in screen.boxes] == [(151, 121, 420, 330)]
    paint_flow(image, rng, [(300, 160)], [BLUE])
    assert find_screen(image[None], THRESHOLD).mode == "colour"


def test_steered_parallelogram(rng):
    image = blank_screen(rng, velocity_rows())
    corners = np.array([(220, 110), (420, 110), (360, 340), (160, 340)], np.int32)  # slope -60/230 px/row

    def draw(canvas, colour=1):
        cv2.polylines(canvas, [corners], True, colour, 1)

    draw(image, (255, 255, 255))
    paint_flow(image, rng, [(280, 180), (270, 290)], [RED, BLUE])
    (box,) = find_screen(image[None], THRESHOLD).boxes
    truth = drawn_interior(image.shape, draw)
    assert box.shape == "parallelogram" and box.source == "outline"
    assert iou(box.mask(H, W), truth) >= 0.97
    ys, xs = np.nonzero(truth)
    assert near(box.bbox, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 2)


def test_sector_box_with_coloured_outline(rng):
    image = blank_screen(rng, velocity_rows())
    apex, inner, outer = (310, 0), 120, 380

    def draw(canvas, colour=1):
        cv2.ellipse(canvas, apex, (inner, inner), 0, 60, 120, colour, 1)
        cv2.ellipse(canvas, apex, (outer, outer), 0, 60, 120, colour, 1)
        for angle in (60, 120):
            a = np.radians(angle)
            p0 = (round(apex[0] + inner * np.cos(a)), round(apex[1] + inner * np.sin(a)))
            p1 = (round(apex[0] + outer * np.cos(a)), round(apex[1] + outer * np.sin(a)))
            cv2.line(canvas, p0, p1, colour, 1)

    draw(image, (80, 230, 200))  # an ATL-like green outline: colour, like the flow
    paint_flow(image, rng, [(300, 200), (330, 300)], [RED, BLUE])
    (box,) = find_screen(image[None], THRESHOLD).boxes
    truth = drawn_interior(image.shape, draw)
    assert box.shape == "sector" and box.source == "outline"
    assert iou(box.mask(H, W), truth) >= 0.95
    assert box.apex is not None and near(box.apex, apex, 4)


def test_split_screen_two_boxes(rng):
    image = blank_screen(rng, power_rows())
    cv2.rectangle(image, (80, 140), (300, 300), (255, 255, 255), 1)
    cv2.rectangle(image, (303, 141), (520, 301), (255, 255, 255), 1)
    paint_flow(image, rng, [(180, 220), (400, 220)], [power_rows()[10], power_rows()[40]])
    screen = find_screen(image[None], THRESHOLD)
    assert sorted(b.bbox for b in screen.boxes) == [(81, 141, 300, 300), (304, 142, 520, 301)]
    assert screen.doppler_box == (81, 141, 520, 301)
    assert screen.box_mask(H, W).sum() == 219 * 159 + 216 * 159
    described = screen.describe()
    assert [b["shape"] for b in described["boxes"]] == ["rectangle", "rectangle"] and described["mode"] == "power"


def test_colour_extent_without_outline(rng):
    image = blank_screen(rng, velocity_rows())
    paint_flow(image, rng, [(250, 200), (320, 260)], [RED, BLUE])
    screen = find_screen(image[None], THRESHOLD)
    (box,) = screen.boxes
    flow = (image.max(axis=2).astype(int) - image.min(axis=2) > THRESHOLD) & _inside(PICTURE)
    ys, xs = np.nonzero(flow)
    assert (box.shape, box.source) == ("colour_extent", "colour_extent")
    assert box.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_bmode_with_coloured_text_is_none(rng):
    screen = find_screen(blank_screen(rng, None)[None], THRESHOLD)
    assert screen.mode == "none" and screen.boxes == () and screen.colour_bars == ()
    assert screen.doppler_box is None and screen.box_source is None
    assert screen.lut(THRESHOLD).kind == "chroma"


def test_dicom_regions_place_box_bar_and_area(rng):
    image = blank_screen(rng, velocity_rows())
    paint_flow(image, rng, [(250, 200), (320, 260)], [RED, BLUE])

    def region(bbox, data_type, spatial_format=1):
        return UltrasoundRegion(bbox, spatial_format, data_type, 3, 3, 0.01, 0.01)

    regions = [region(PICTURE, 1), region((200, 150, 400, 320), 2), region((595, 100, 620, 260), 0x0E, 0)]
    screen = find_screen(image[None], THRESHOLD, regions)
    assert screen.image_area == PICTURE and screen.image_area_source == "dicom_region"
    assert [(b.bbox, b.shape, b.source) for b in screen.boxes] == [((200, 150, 400, 320), "region", "dicom_region")]
    (bar,) = screen.colour_bars
    assert bar.source == "dicom_region" and bar.bbox == (BAR[0], BAR[1], BAR[2], BAR[1] + 2 * HALF + 3)
    assert screen.mode == "colour"


def test_several_frames_static_outline(rng):
    frames = []
    for k in range(5):
        image = blank_screen(np.random.default_rng(k), velocity_rows())
        cv2.rectangle(image, (150, 120), (420, 330), (255, 255, 255), 1)
        paint_flow(image, rng, [(200 + 20 * k, 200)], [RED])
        frames.append(image)
    screen = find_screen(np.stack(frames), THRESHOLD)
    assert [b.bbox for b in screen.boxes] == [(151, 121, 420, 330)] and screen.mode == "colour"


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (1, 5, 7, 3), (2, 3, 9, 3), (1, 31, 17, 3)], ids=str)
def test_edge_shapes(shape, rng):
    frames = rng.integers(0, 256, shape, dtype=np.uint8)
    frames[..., 1] = frames[..., 0]
    frames[..., 2] = frames[..., 0]
    screen = find_screen(frames, THRESHOLD)
    assert screen.mode == "none" and screen.boxes == ()
    x0, y0, x1, y1 = screen.image_area
    assert 0 <= x0 < x1 <= shape[2] and 0 <= y0 < y1 <= shape[1]


@pytest.mark.parametrize(
    "frames",
    [np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4, 3), np.float32)],
    ids=["no-frame-axis", "grey", "float"],
)
def test_rejects_bad_frames(frames):
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\) uint8"):
        find_screen(frames, THRESHOLD)


# --- real screens ----------------------------------------------------------------------------------------------


def _load(path: Path, frames: int = 4) -> tuple[np.ndarray, list[UltrasoundRegion]]:
    """``(N, H, W, 3) uint8`` RGB of the first frames (YBR converted, palette applied) and the regions."""
    if not path.exists():
        pytest.skip(f"{path.name} is not available")
    ds = pydicom.dcmread(path)
    count = min(frames, int(getattr(ds, "NumberOfFrames", 1) or 1))
    rgb = np.stack([pixel_array(ds, index=i) if count > 1 else ds.pixel_array for i in range(count)])
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = (apply_color_lut(rgb, ds) >> 8).astype(np.uint8)
    regions = [
        UltrasoundRegion(
            bbox=(r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1 + 1, r.RegionLocationMaxY1 + 1),
            spatial_format=r.RegionSpatialFormat,
            data_type=r.RegionDataType,
            units_x=r.PhysicalUnitsXDirection,
            units_y=r.PhysicalUnitsYDirection,
            delta_x=float(r.PhysicalDeltaX),
            delta_y=float(r.PhysicalDeltaY),
        )
        for r in getattr(ds, "SequenceOfUltrasoundRegions", [])
    ]
    return np.ascontiguousarray(rgb), regions


def _data_store(name: str) -> Path:
    data_store = pytest.importorskip("data_store")
    return Path(data_store.__file__).parent / "data" / name


GE_BOXES = [(88, 149, 316, 293), (319, 150, 547, 294)]
GE_BARS = [(18, 153, 42, 217), (599, 153, 623, 217)]
# file -> (mode, boxes as (bbox, shape), bars as (bbox, kind))
DOPPLER = {
    "pydicom-jpeg2k": ("power", [(b, "rectangle") for b in GE_BOXES], [(b, "power") for b in GE_BARS]),
    "nemaWG04_US1_RLE.dcm": ("power", [(b, "rectangle") for b in GE_BOXES], [(b, "power") for b in GE_BARS]),
    "US1_J2KI.dcm": ("power", [(b, "rectangle") for b in GE_BOXES], [(b, "power") for b in GE_BARS]),
    "barre_US-RGB-8-epicard.dcm": ("power", [((227, 139, 412, 322), "sector")], [((19, 153, 43, 281), "power")]),
    "orthanc_Issue19.dcm": ("colour", [((250, 117, 383, 357), "sector")], [((616, 96, 633, 248), "velocity")]),
    "orthanc_TS_1.2.840.10008.1.2.4.50.dcm": (
        "colour",
        [((257, 110, 377, 323), "sector")],
        [((616, 96, 633, 248), "velocity")],
    ),
    "gdcm_US-PAL-8-10x-echo.dcm": ("colour", [((226, 100, 414, 306), "sector")], [((549, 28, 579, 152), "velocity")]),
}
BMODE = [
    "orthanc_Implicit-vr-us-palette.dcm",
    "orthanc_Issue16.dcm",
    "orthanc_jp2k91YBR-ICT.dcm",
    "orthanc_2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm",
    "OBXXXX1A.dcm",
    "gdcm-US-ALOKA-16.dcm",
    "color3d_jpeg_baseline.dcm",
]
IN_DATA_STORE = {"US1_J2KI.dcm", "OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm", "color3d_jpeg_baseline.dcm"}


def _real(name: str) -> tuple[np.ndarray, list[UltrasoundRegion]]:
    if name == "pydicom-jpeg2k":
        return examples.jpeg2k.pixel_array[None], []
    return _load(_data_store(name) if name in IN_DATA_STORE else REAL / name)


@pytest.mark.parametrize("name", list(DOPPLER), ids=list(DOPPLER))
def test_real_doppler_screens(name):
    frames, regions = _real(name)
    screen = find_screen(frames, THRESHOLD, regions)
    mode, boxes, bars = DOPPLER[name]
    assert screen.mode == mode
    assert len(screen.boxes) == len(boxes) and len(screen.colour_bars) == len(bars)
    for bbox, shape in boxes:
        (box,) = [b for b in screen.boxes if near(b.bbox, bbox, 3)]
        assert box.shape == shape and box.source == "outline"
    for bbox, kind in bars:
        (bar,) = [b for b in screen.colour_bars if near(b.bbox, bbox, 3)]
        assert bar.kind == kind
    for box in screen.boxes:  # boxes lie in the picture; legends and what lies outside are excluded
        assert not screen.exclude_mask(*frames.shape[1:3])[box.mask(*frames.shape[1:3])].any()


def test_ge_left_box_count():
    """The left box interior of pydicom's GE power Doppler frame holds 7725 pixels with chroma > 40."""
    frame = examples.jpeg2k.pixel_array
    screen = find_screen(frame[None], THRESHOLD)
    left = min(screen.boxes, key=lambda b: b.bbox[0])
    assert left.bbox == GE_BOXES[0]
    wide = frame.astype(np.int16)
    colour = wide.max(axis=2) - wide.min(axis=2) > THRESHOLD
    assert int((colour & left.mask(*frame.shape[:2])).sum()) == 7725


def test_real_ecg_and_legend_excluded():
    frames, _ = _real("orthanc_Issue19.dcm")
    screen = find_screen(frames, THRESHOLD)
    excluded = screen.exclude_mask(*frames.shape[1:3])
    wide = frames[0].astype(np.int16)
    colour = wide.max(axis=2) - wide.min(axis=2) > THRESHOLD
    assert excluded[430:475][colour[430:475]].all()  # the green ECG trace at the bottom
    assert excluded[96:248, 616:633].all()  # the colour bar


@pytest.mark.parametrize("name", BMODE, ids=BMODE)
def test_real_bmode_screens(name):
    frames, regions = _real(name)
    screen = find_screen(frames, THRESHOLD, regions)
    assert screen.mode == "none" and screen.boxes == () and screen.colour_bars == ()


# --- real screen captures without a colour box -----------------------------------------------------------------

MINDRAY_PNGS = ["mindray_dc8_bmode_long.png", "mindray_dc8_bmode_trans.png"]
GE_MOV = "ge_logiq_bmode_spectral.mov"


def _screen_frames(name: str, count: int = 8) -> np.ndarray:
    """``(N, H, W, 3) uint8`` RGB: a PNG, or the first ``count`` frames of a clip."""
    path = SCREENS / name
    if not path.exists():
        pytest.skip(f"{name} is not available")
    if path.suffix == ".png":
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[None]
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return np.stack(frames)


@pytest.mark.parametrize("name", [GE_MOV, *MINDRAY_PNGS])
def test_real_screens_without_colour_box(name):
    """GE's blue header banner and the Mindray's bluish grey-scale bar are no colour bars; no box, no mode."""
    screen = find_screen(_screen_frames(name), THRESHOLD)
    assert screen.mode == "none" and screen.boxes == () and screen.colour_bars == ()


@pytest.mark.parametrize("name", MINDRAY_PNGS)
def test_real_bmode_png_warns_no_doppler_mode(name, settings):
    if not (SCREENS / name).exists():
        pytest.skip(f"{name} is not available")
    result = analyze(SCREENS / name, AnalyzeOptions(roi=RoiSpec(rect=(300, 200, 700, 500))), settings=settings)
    assert result.doppler.mode == "none" and "no_doppler_mode" in [w.code for w in result.warnings]


@pytest.mark.slow
def test_real_bmode_spectral_clip_warns_no_doppler_mode(settings):
    """The whole GE clip (126 s, decoded to its end) reads as no Doppler: the spectral strip is grey."""
    if not (SCREENS / GE_MOV).exists():
        pytest.skip(f"{GE_MOV} is not available")
    options = AnalyzeOptions(roi=RoiSpec(rect=(180, 48, 344, 256)), max_frames=4)
    result = analyze(SCREENS / GE_MOV, options, settings=settings)
    assert result.doppler.mode == "none" and "no_doppler_mode" in [w.code for w in result.warnings]


@pytest.mark.parametrize("seed", [100, 183, 199])
def test_a_coloured_interface_is_not_searched_as_a_box_outline(seed):
    """Held-out val screens (dark-blue and tinted interfaces): a colour that fills most of the window it was
    traced in is a panel, not a box outline; searching it for loops once gave a wrong box (183, 199) or a
    second, spurious one (100) and cost tens of milliseconds."""
    from models.training.heldout import BackgroundUnavailable, make_case

    try:
        case = make_case(seed)
    except BackgroundUnavailable:
        pytest.skip("the case lays a real B-mode image the checkout does not have")
    screen = find_screen(case.frames, 40)
    ys, xs = np.nonzero(case.box)
    truth = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    assert [b.source for b in screen.boxes] == ["outline"]
    x0, y0, x1, y1 = screen.boxes[0].bbox
    inter = max(0, min(x1, truth[2]) - max(x0, truth[0])) * max(0, min(y1, truth[3]) - max(y0, truth[1]))
    union = (x1 - x0) * (y1 - y0) + (truth[2] - truth[0]) * (truth[3] - truth[1]) - inter
    assert inter / union > 0.95


@pytest.mark.parametrize(
    ("thickness", "factor", "interpolation"),
    [(2, 2, cv2.INTER_LINEAR), (2, 3, cv2.INTER_NEAREST), (1, 5, cv2.INTER_NEAREST), (1, 3, cv2.INTER_LINEAR)],
    ids=["2px-x2-linear", "2px-x3-nearest", "1px-x5-nearest", "1px-x3-linear"],
)
def test_outline_upscaled_with_its_screen(rng, thickness: int, factor: int, interpolation: int):
    """A screen captured at two to five times the scanner's size: the box's 1-2 px grey line becomes up to 6 rows
    thick, and is still one outline (not a flat patch, nor two thin lines without contrast on their inner side)."""
    image = blank_screen(rng, velocity_rows())

    def draw(canvas, colour=1):
        cv2.rectangle(canvas, (150, 120), (420, 330), colour, thickness)

    draw(image, (190, 190, 190))
    paint_flow(image, rng, [(250, 200), (320, 260)], [RED, BLUE])
    size = (W * factor, H * factor)
    big = cv2.resize(image, size, interpolation=interpolation)
    truth = cv2.resize(drawn_interior(image.shape, draw).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    (box,) = find_screen(big[None], THRESHOLD).boxes
    assert box.source == "outline" and box.shape == "rectangle"
    assert iou(box.mask(H * factor, W * factor), truth) >= 0.95  # the interior within a few px of a 2-6 px line

"""The colour rule per clip: the chroma rule for exact colours, and for lossy ones a table that tells a vessel's
paint from the codec's smear by luma and chroma together (the bar's colours, or the clip's own saturation)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import cuda_ops
from app.config import Settings
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.decode import Clip, SourceInfo
from app.pipeline.measure.clip_paint import clip_paint, on_the_surface
from app.pipeline.measure.colour_cube import saturation
from app.pipeline.measure.colour_rule import (
    HALF_CHROMA,
    ColourRule,
    bar_lut,
    colour_rule,
    lossy_colour,
    paint_saturation,
    saturation_lut,
)
from app.pipeline.screen.parse import Screen

ROOT = Path(__file__).resolve().parents[4]
PNG = SourceInfo(format="png", colour="RGB", chroma_subsampling="4:4:4", lossy=False)
JPEG = SourceInfo(format="jpeg", colour="RGB", chroma_subsampling="4:2:0", lossy=True)
H264 = SourceInfo(format="mp4", colour="yuv420p", codec="h264", chroma_subsampling="4:2:0", lossy=True)
RAW_420 = SourceInfo(format="avi", colour="yuv420p", codec="rawvideo", chroma_subsampling="4:2:0", lossy=False)
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
RED = (220, 40, 10)


def _bench():
    """benchmarks/lossy_colour.py: its frame maker and codecs (the test runs a small part of it)."""
    name = "lossy_colour_benchmark"
    if name not in sys.modules:  # its dataclasses look their module up while being made
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "lossy_colour.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _hit(lut: cuda_ops.DopplerLUT, rgb) -> bool:
    index = np.asarray(rgb, dtype=np.uint8) >> (8 - lut.bits)
    return bool(lut.is_doppler[index[0], index[1], index[2]])


def _faded(rgb, share: float, luma: float | None = None) -> tuple[int, int, int]:
    """``rgb`` with its chroma scaled by ``share`` (toward grey), at its own luma or at ``luma``."""
    ycc = YCBCR @ np.asarray(rgb, dtype=np.float64)
    ycc[1:] *= share
    if luma is not None:
        ycc[0] = luma
    out = np.linalg.solve(YCBCR, ycc)
    return tuple(int(v) for v in np.clip(np.rint(out), 0, 255))


def test_sources_with_exact_colours_keep_the_chroma_rule():
    screen = Screen(image_area=(0, 0, 8, 8), mode="power")
    frames, where = np.zeros((1, 8, 8, 3), np.uint8), np.ones((8, 8), bool)
    for source in (PNG, SourceInfo(format="array", colour="RGB")):
        rule = colour_rule(screen, source, frames, where, 40)
        assert rule.kind == "chroma" and rule.lut.kind == "chroma" and rule.lut.threshold == 40 and rule.lossy is None
    forced = colour_rule(screen, JPEG, frames, where, 40, "chroma")
    assert forced.kind == "chroma" and forced.lossy == "lossy jpeg, 4:2:0 chroma"
    with pytest.raises(ValueError, match="unknown colour rule"):
        colour_rule(screen, JPEG, frames, where, 40, "smart")


def test_why_colours_are_approximate():
    assert lossy_colour(PNG) is None
    assert lossy_colour(H264) == "lossy h264, 4:2:0 chroma"
    assert lossy_colour(RAW_420) == "4:2:0 chroma"  # lossless coding, but one colour per four pixels
    assert lossy_colour(SourceInfo(format="dicom", colour="YBR_ICT", codec="jpeg2000", lossy=True)) == "lossy jpeg2000"


def test_bar_table_counts_paint_faded_by_at_most_half_at_its_luma():
    lut = bar_lut(np.array([RED, (0, 0, 0), (120, 0, 0), (255, 200, 40)], np.uint8), 40)
    assert lut.kind == "table" and lut.min_chroma > 40
    assert _hit(lut, RED) and _hit(lut, (255, 200, 40)) and not _hit(lut, (128, 128, 128))
    assert _hit(lut, _faded(RED, 0.7))  # a vessel's edge pixel: its paint's luma, most of its chroma
    assert not _hit(lut, _faded(RED, HALF_CHROMA - 0.15))  # the smear past the edge
    luma = float(YCBCR[0] @ RED)
    assert not _hit(lut, _faded(RED, 0.8, luma + 60))  # the red's chroma on brighter speckle: smear
    assert not _hit(lut, (40, 200, 40))  # green is not on this map
    assert bar_lut(np.array([(0, 0, 0), (60, 40, 40)], np.uint8), 40) is None  # no bar colour above the threshold


def test_saturation_table_follows_the_paint_read_from_the_clip():
    assert saturation(np.array([(255, 0, 0), (128, 128, 128), (90, 0, 0)])).tolist() == pytest.approx([1, 0, 1])
    paint = np.array([RED] * 200 + [(0, 60, 230)] * 200, np.uint8)
    levels = paint_saturation(paint, 40)
    assert levels.min() > 0.8  # each hue bin with pixels, and every other bin, reads the paint as saturated
    lut = saturation_lut(paint, 40)
    assert _hit(lut, RED) and _hit(lut, _faded(RED, 0.7)) and not _hit(lut, _faded(RED, 0.3))
    assert not _hit(lut, (128, 128, 128))
    assert paint_saturation(np.zeros((5, 3), np.uint8), 40).tolist() == [1.0] * levels.size  # nothing to read


def test_each_backend_counts_the_table_identically(rng):
    bench = _bench()
    frame = bench.make_frames(bench.MAPS[1], 1, True, seed=5)[0]
    decoded = cv2.imdecode(np.frombuffer(bench.jpeg(frame, 75), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    frames = np.ascontiguousarray(decoded[None])
    labels = np.zeros((1, *frames.shape[1:3]), np.uint8)
    x0, y0, x1, y1 = bench.BOX
    labels[0, y0:y1, x0:x1] = 1
    labels[0, y0 + 40 : y0 + 80, x0:x1] = 2
    lut = bar_lut(bench.MAPS[1].bar(160).round().astype(np.uint8), 40)
    counts = {b: cuda_ops.count_doppler(frames, labels, lut, backend=b, device="cpu") for b in ("reference", "cpu")}
    np.testing.assert_array_equal(counts["cpu"].doppler, counts["reference"].doppler)
    np.testing.assert_array_equal(counts["cpu"].pixels, counts["reference"].pixels)


@pytest.mark.parametrize(("bar", "quality"), [(True, 75), (False, 90)], ids=["bar-q75", "no-bar-q90"])
def test_compressed_frames_count_as_the_lossless_ones(bar, quality, settings):
    """The same frames as PNG and as JPEG (4:2:0): the chroma rule counts the smear, the table or the unmixing
    does not; the vessel count (coloured pixels, gaps closed) stays within one. Without a bar the paint is read
    from the frame's own vessel cores, coarser at quality 75 (docs/benchmarks.md#lossy-colour)."""
    bench = _bench()
    frames = bench.make_frames(bench.MAPS[0], 3, bar, seed=9)
    old = Settings(**{**settings.model_dump(), **bench.BEFORE["chroma"]})
    for frame in frames:
        lossless = bench._measure(bench.png(frame), settings)[0]
        compressed = bench._measure(bench.jpeg(frame, quality), settings)[0]
        error = compressed[0] / lossless[0] - 1
        before = bench._measure(bench.jpeg(frame, quality), old)[0][0] / bench._measure(bench.png(frame), old)[0][0] - 1
        assert before > 0.15  # the chroma rule counts the smear
        assert abs(error) <= 0.08 if bar else abs(error) < before / 2, (error, before)
        assert abs(compressed[1] - lossless[1]) <= 1  # equal on most frames (benchmarks/lossy_colour.py)


def test_a_clip_without_a_bar_is_unmixed_with_the_paint_of_its_vessel_cores(settings):
    """An H.264 clip without a colour bar: the paint read from the cores of its vessels (``clip_paint``) is
    unmixed as a bar's would be, and its count stays within 5 % of the lossless frames'."""
    bench = _bench()
    frames = bench.make_frames(bench.MAPS[1], 6, False, seed=9)
    roi = AnalyzeOptions(roi=RoiSpec(rect=(0, 0, bench.WIDTH, bench.HEIGHT)))
    lossless = run_analysis(Clip.in_memory(frames, "clip", PNG), roi, settings=settings).result
    after = run_analysis(bench.h264(frames, 23), roi, settings=settings).result
    counts = [sum(f.doppler_px for f in r.frames) for r in (lossless, after)]
    assert abs(counts[1] / counts[0] - 1) <= 0.05, counts
    assert "the cores of its vessels" in next(w.message for w in after.warnings if w.code == "lossy_colour")


def test_clip_paint_reads_the_cores_of_coloured_patches():
    """A patch's core gives its paint; its fringe (faded by the codec's blur) and a patch too thin for a core
    do not; exact chroma, too few core pixels, or cores of colour blended into the grey give none."""
    frame = np.full((1, 40, 40, 3), 90, np.uint8)
    frame[0, 10:20, 10:30] = RED  # a 10 x 20 patch: its 6 x 16 core, 2 px inside, keeps the paint
    frame[0, 9, 10:30] = frame[0, 20, 10:30] = _faded(RED, 0.6)  # the fringe the blur leaves
    frame[0, 30, 5:35] = RED  # one pixel wide: no core
    spread = frame[0].max(axis=2) - frame[0].min(axis=2)
    where = np.ones((40, 40), bool)
    paint = clip_paint(frame, spread[None], where, 40, "4:2:0")
    assert paint is not None and paint.tolist() == [list(RED)]
    assert clip_paint(frame, spread[None], where, 40, "4:4:4") is None  # exact colours are counted as they are
    small = np.full_like(frame, 90)
    small[0, 10:15, 10:15] = RED  # a 1-pixel core: too few
    assert clip_paint(small, (small[0].max(axis=2) - small[0].min(axis=2))[None], where, 40, "4:2:0") is None
    blended = np.full_like(frame, 90)
    blended[0, 10:20, 10:30] = (155, 65, 50)  # RED laid half over the grey: faded paint, not paint over it
    spread = blended[0].max(axis=2) - blended[0].min(axis=2)
    assert spread[15, 15] > 40 and clip_paint(blended, spread[None], where, 40, "4:2:0") is None


def test_thin_vessels_whose_colour_no_core_holds_give_their_paint_on_the_cube_surface():
    """A ridge of colour that no core colour explains (a thin vessel of another hue or luma) gives its colour
    lengthened to the RGB cube's surface at its own luma and direction: the paint it was drawn with, near
    enough. A thin line of a core's own colour adds nothing."""
    blue = (8, 37, 167)  # on the surface (a channel near 0), luma 35
    frame = np.full((1, 40, 40, 3), 90, np.uint8)
    frame[0, 10:20, 10:30] = RED
    frame[0, 30, 5:35] = _faded(blue, 0.4)  # one pixel wide, 40 % of its chroma left by the blur
    frame[0, 34, 5:35] = _faded(RED, 0.5)  # a thin line of the cores' own colour
    spread = frame[0].max(axis=2).astype(np.int16) - frame[0].min(axis=2)
    paint = clip_paint(frame, spread.astype(np.uint8)[None], np.ones((40, 40), bool), 40, "4:2:0")
    assert paint is not None and paint[0].tolist() == list(RED) and len(paint) == 2
    got = paint[1].astype(np.float64)
    assert abs(got @ YCBCR[0] - np.asarray(blue) @ YCBCR[0]) <= 2  # the luma kept
    direction = np.asarray(blue) @ YCBCR[1:].T
    chroma = got @ YCBCR[1:].T
    assert np.degrees(np.arccos(chroma @ direction / np.linalg.norm(chroma) / np.linalg.norm(direction))) < 5
    assert saturation(paint[1:]).tolist() == pytest.approx([1.0], abs=0.02)
    assert on_the_surface(np.array([(90, 90, 90)], np.uint8)).tolist() == [[90, 90, 90]]  # grey stays grey
    assert on_the_surface(np.array([_faded(RED, 0.5)], np.uint8)).astype(int).min() <= 1


def test_a_thin_vessel_of_another_hue_is_counted_in_a_still_without_a_bar(settings):
    """A JPEG still without a bar whose wide vessel is red and whose thin one (3 px) is dark blue: the cores
    hold only red, yet the blue vessel is counted as in the lossless frame, not dropped."""
    rng = np.random.default_rng(5)
    frame = rng.integers(60, 150, (240, 320, 1), dtype=np.uint8).repeat(3, axis=2)
    frame[60:72, 40:280] = (230, 30, 10)  # a wide red vessel: its cores give the paint
    frame[150:153, 40:280] = (8, 37, 167)  # a thin dark-blue one, 3 px wide: no core
    cv2.rectangle(frame, (20, 40), (299, 199), (255, 255, 255), 1)
    bench = _bench()
    roi = AnalyzeOptions(roi=RoiSpec(rect=(0, 0, 320, 240)))
    seen = {}

    def keep(batch):
        seen["doppler"] = batch.doppler[0].copy()

    run_analysis(bench.jpeg(frame, 95), roi, settings=settings, observer=keep)
    blue = seen["doppler"][148:155, 40:280].sum()
    assert blue >= 0.7 * 3 * 240, blue  # the unmixing gives the edges back in part


def test_a_clip_is_counted_with_its_setup_rule(settings):
    """The first batch's Setup picks the rule; every frame and the graded frame's pixels use it."""
    bench = _bench()
    frames = bench.make_frames(bench.MAPS[2], 3, True, seed=3)
    seen = {}

    def observe(batch):
        seen["doppler"] = int(batch.doppler.sum())

    analysis = run_analysis(
        bench.h264(frames, 23),
        AnalyzeOptions(roi=RoiSpec(rect=(0, 0, bench.WIDTH, bench.HEIGHT))),
        settings=settings,
        observer=observe,
    )
    result = analysis.result
    assert (result.source.chroma_subsampling, result.source.lossy) == ("4:2:0", True)
    assert seen["doppler"] == sum(f.doppler_px for f in result.frames)
    assert int(analysis.doppler_mask.sum()) == result.summary.doppler_px
    assert "lossy_colour" in [w.code for w in result.warnings]
    exact = run_analysis(
        Clip.in_memory(frames, "clip", PNG), AnalyzeOptions(roi=RoiSpec(rect=(0, 0, bench.WIDTH, bench.HEIGHT)))
    )
    assert "lossy_colour" not in [w.code for w in exact.result.warnings]


def test_the_rule_keeps_the_vessels_narrower_than_the_chroma_for_the_vessel_count():
    rule = ColourRule(bar_lut(np.array([RED], np.uint8), 40), "bar", "lossy jpeg", cuda_ops.chroma_lut(40))
    frame = np.full((8, 8, 3), 100, np.uint8)
    frame[2, 1:7] = _faded(RED, 0.3)  # a line whose chroma the codec cut to a third: not Doppler, still colour
    labels = np.ones((8, 8), np.uint8)
    doppler = cuda_ops.doppler_mask(frame, labels, rule.lut)
    assert not doppler.any() and rule.coloured_pixels(frame, labels, doppler).sum() == 6
    exact = ColourRule(cuda_ops.chroma_lut(40), "chroma", None, cuda_ops.chroma_lut(40))
    assert exact.coloured_pixels(frame, labels, doppler) is doppler


def test_unmixing_counts_a_real_frame_made_lossy_closer_than_the_tables():
    """The real GE power Doppler screen (lossless RLE, its bar beside the picture), copied here as JPEG 4:2:2 and
    H.264: unmixed, its Doppler pixel count stays within 5 % of the lossless frame's, closer than the per-pixel
    tables (docs/benchmarks.md#lossy-colour lists every copy)."""
    path = ROOT.parent / "shared" / "realdata" / "dicom" / "nemaWG04_US1_RLE.dcm"
    if not path.is_file():
        pytest.skip("the real GE frame is not here")
    for _, reference, copy, before, after in _bench().real_twins([str(path)], ("jpeg 90 4:2:2", "h264 23")):
        assert abs(after / reference - 1) <= 0.05 and abs(after - reference) < abs(before - reference), copy


def test_a_real_frame_without_its_bar_keeps_its_thin_dark_vessels():
    """The same GE frame with its bar blacked out: the paint comes from the frame itself. Its weak flow is dark
    red in vessels too thin for a core; their ridges give that paint, and the JPEG and H.264 copies count within
    6 % of the lossless frame (the cores alone: 13-28 % low; any ridge above the chroma threshold, the codec's
    cyan ringing among them: 18 % high at quality 75)."""
    path = ROOT.parent / "shared" / "realdata" / "dicom" / "nemaWG04_US1_RLE.dcm"
    if not path.is_file():
        pytest.skip("the real GE frame is not here")
    copies = ("jpeg 75", "jpeg 90 4:2:2", "h264 23")
    for _, reference, copy, _, after in _bench().real_twins([str(path)], copies, no_bar=True):
        assert abs(after / reference - 1) <= 0.06, (copy, after, reference)

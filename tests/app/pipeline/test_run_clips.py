"""Clip grading end to end: per-frame truth, flash rejection, sampling, the band, thickness, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline import AnalyzeOptions, RoiSpec, analyze, run_analysis
from app.pipeline.decode import Calibration, Clip, SourceInfo
from tests.conftest import grey_background

H, W = 120, 160
TENDON = (slice(50, 70), slice(20, 140))  # rows, cols: a 20 x 120 band, 2400 px
PER_FRAME_BLOBS = [1, 3, 6, 2, 8, 4]  # 3x3 blobs inside the tendon on each frame (frame 4 will flash)
BLOB = 9
FLASH = 4


def _tendon_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[TENDON] = True
    return mask


def _frames(rng: np.random.Generator, blobs=PER_FRAME_BLOBS, flash: int | None = FLASH) -> np.ndarray:
    """``(N, H, W, 3)``: speckle, ``blobs[i]`` separate 3x3 Doppler blobs in the tendon (gaps of 4 px and more,
    wider than the vessel gap NEOVASC_VESSEL_GAP_PX); a flood on ``flash``."""
    frames = np.stack([grey_background(H, W, rng) for _ in blobs])
    for i, count in enumerate(blobs):
        for k in range(count):
            y, x = 52 + 7 * (k % 3), 24 + 12 * (k // 3)
            frames[i, y : y + 3, x : x + 3] = (230, 60, 20)
    if flash is not None:
        frames[flash, 10:110, :] = (200, 40, 40)  # most of the image (the box stand-in) coloured at once
    return frames


def _clip(frames: np.ndarray, calibration: Calibration | None = None) -> Clip:
    source = SourceInfo(format="array", colour="RGB")
    return Clip.in_memory(frames, "clip", source, fps=20.0, calibration=calibration)


def test_per_frame_truth_and_flash_rejection(rng, settings):
    result = analyze(_clip(_frames(rng)), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    doppler = [BLOB * n for n in PER_FRAME_BLOBS]
    doppler[FLASH] = 2400  # the flood covers the whole tendon
    assert [f.doppler_px for f in result.frames] == doppler
    assert [f.tendon_area_px for f in result.frames] == [2400] * 6
    assert [f.flash for f in result.frames] == [i == FLASH for i in range(6)]
    assert result.frames[FLASH].box_colour_fraction > 0.5
    s = result.summary
    assert s.frame_index == 2 and s.doppler_px == 54 and s.vessel_count == 6  # the best frame that is not flash
    assert (s.frames_analysed, s.frames_kept) == (6, 5)
    kept = [d / 2400 for i, d in enumerate(doppler) if i != FLASH]
    assert s.colour_fraction_mean == pytest.approx(np.mean(kept))
    assert s.colour_fraction_median == pytest.approx(np.median(kept))
    assert "flash_frames_rejected" in [w.code for w in result.warnings]


def test_spike_without_saturation_is_rejected(rng, settings):
    blobs = [2, 2, 3, 2, 2, 2, 3]
    frames = _frames(rng, blobs, flash=None)
    frames[5, 20:52, :] = (200, 40, 40)  # a burst above the tendon: 32 of 120 rows, below half the image
    result = analyze(_clip(frames), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    assert [f.flash for f in result.frames] == [i == 5 for i in range(7)]
    assert result.summary.frame_index == 2


def test_every_frame_flooded_grades_the_best_with_a_warning(rng, settings):
    frames = _frames(rng, [1, 2, 3], flash=None)
    frames[:, 0:100, :] = (200, 40, 40)
    result = analyze(_clip(frames), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    codes = [w.code for w in result.warnings]
    assert "all_frames_flash" in codes and "saturated_box" in codes and "flash_frames_rejected" not in codes
    assert result.summary.frames_kept == 0 and result.summary.colour_fraction_mean is None


def test_clip_without_doppler(rng, settings):
    frames = _frames(rng, [0, 0, 0, 0, 0], flash=None)
    result = analyze(_clip(frames), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    assert [f.colour_fraction for f in result.frames] == [None] * 5 and not any(f.flash for f in result.frames)
    assert result.summary.colour_fraction is None and result.summary.vessel_count is None
    assert result.summary.colour_fraction_mean is None and result.summary.band_colour_fraction is None
    assert result.doppler.mode == "none" and "no_doppler_mode" in [w.code for w in result.warnings]


@pytest.mark.parametrize(
    ("every", "max_frames", "indices"),
    [(1, None, [0, 1, 2, 3, 4, 5]), (2, None, [0, 2, 4]), (1, 2, [0, 3]), (4, 5, [0, 4])],
    ids=["all", "every-2", "max-2", "every-4-max-5"],
)
def test_sampling_keeps_original_indices(rng, settings, every, max_frames, indices):
    frames = _frames(rng, flash=None)
    options = AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask()), every=every, max_frames=max_frames)
    result = analyze(_clip(frames), options, settings=settings)
    assert [f.index for f in result.frames] == indices
    assert [f.doppler_px for f in result.frames] == [BLOB * PER_FRAME_BLOBS[i] for i in indices]
    assert result.summary.frame_index == max(indices, key=lambda i: PER_FRAME_BLOBS[i])


def test_band_counts_colour_around_the_tendon(rng, settings):
    frames = _frames(rng, [0], flash=None)
    frames[0, 40:44, 60:70] = (230, 60, 20)  # 40 px, 6-10 px above the tendon: inside the 20 px band
    frames[0, 5:8, 60:70] = (230, 60, 20)  # 30 px, 42 px above: outside the band
    analysis = run_analysis(_clip(frames), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    s = analysis.result.summary
    band = analysis.band_mask
    assert s.band_width_px == 20 and s.band_width_mm is None
    assert s.band_doppler_px == 40 and s.band_area_px == int(band.sum())
    assert s.band_colour_fraction == pytest.approx(40 / band.sum())
    assert not (band & _tendon_mask()).any() and band[30, 80] and not band[29, 80]  # 20 rows above, no more
    assert s.colour_fraction == 0.0


def test_calibrated_clip_thickness_area_band_and_vessel_size(rng, settings):
    calibration = Calibration(mm_per_px_x=0.08, mm_per_px_y=0.08, source="test")  # 0.0064 mm² a pixel
    frames = _frames(rng, [3], flash=None)  # three 3x3 blobs: 0.058 mm² each
    frames[0, 60:62, 100:103] = (230, 60, 20)  # a 2x3 blob, 0.038 mm²: below 0.05 mm², though 6 px >= 5 px
    result = analyze(_clip(frames, calibration), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    s = result.summary
    assert s.thickness_mm == pytest.approx(1.6)  # 20 rows of 0.08 mm
    assert s.area_mm2 == pytest.approx(2400 * 0.0064)
    assert s.band_width_mm == 2.0 and s.band_width_px == pytest.approx(25.0)
    assert s.vessel_min_px == 8 and s.vessel_count == 3
    assert "uncalibrated" not in [w.code for w in result.warnings]
    uncalibrated = analyze(_clip(frames), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    assert uncalibrated.summary.vessel_count == 4 and uncalibrated.summary.thickness_mm is None


def test_rectangle_roi_has_no_tendon_thickness(rng, settings):
    calibration = Calibration(mm_per_px_x=0.1, mm_per_px_y=0.1, source="test")
    result = analyze(
        _clip(_frames(rng, [2], flash=None), calibration),
        AnalyzeOptions(roi=RoiSpec(rect=(20, 50, 140, 70))),
        settings=settings,
    )
    assert result.summary.thickness_mm is None and result.summary.area_mm2 is None  # a rectangle is not a tendon


def test_small_tendon_warning(rng, settings):
    mask = np.zeros((H, W), bool)
    mask[60:70, 60:90] = True  # 300 px
    result = analyze(_clip(_frames(rng, [1], flash=None)), AnalyzeOptions(roi=RoiSpec(mask=mask)), settings=settings)
    assert "small_tendon" in [w.code for w in result.warnings]


def _us_dicom(frames: np.ndarray, regions: bool) -> bytes:
    """A US multi-frame RGB DICOM of ``frames``; with ``regions``, one 2-D tissue region of 0.01 cm pixels."""
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.FrameTime = H, W, frames.shape[0], 50.0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    if regions:
        item = Dataset()
        item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
        item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = (
            0, 0, W - 1, H - 1,
        )  # fmt: skip
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3  # cm
        item.PhysicalDeltaX = item.PhysicalDeltaY = 0.01
        ds.SequenceOfUltrasoundRegions = Sequence([item])
    ds.PixelData = frames.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("calibrated", [True, False], ids=["calibrated", "uncalibrated"])
def test_dicom_clip_calibrated_or_not(rng, settings, calibrated):
    frames = _frames(rng)
    result = analyze(_us_dicom(frames, calibrated), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())), settings=settings)
    s = result.summary
    assert [f.flash for f in result.frames] == [i == FLASH for i in range(6)] and s.frame_index == 2
    assert result.source.fps == pytest.approx(20.0)
    codes = [w.code for w in result.warnings]
    if calibrated:
        assert result.calibration.mm_per_px_x == pytest.approx(0.1) and result.calibration.source
        assert s.thickness_mm == pytest.approx(2.0) and s.area_mm2 == pytest.approx(24.0)
        assert s.band_width_mm == 2.0 and "uncalibrated" not in codes
    else:
        assert result.calibration is None and s.thickness_mm is None and s.band_width_mm is None
        assert "uncalibrated" in codes


def test_a_gpu_scan_counts_through_the_streamed_clip_path(rng, settings, monkeypatch):
    """On CUDA the scan hands host batches to ``count_clip`` (pinned, cropped uploads); checked without a GPU."""
    import cuda_ops
    from app.pipeline.measure import scan

    calls = []

    def fake_clip(frames, labels, lut, *, backend, device, mask_frames=()):
        calls.append(device)
        return cuda_ops.count_doppler(frames, labels, lut, backend="reference", mask_frames=mask_frames)

    monkeypatch.setattr(cuda_ops, "count_clip", fake_clip)
    counts = scan.Counter("auto", "cuda").count
    monkeypatch.setattr(scan.Counter, "count", lambda self, *args: counts(*args))
    result = analyze(_clip(_frames(rng, [1, 2], flash=None)), AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask())))
    assert calls and set(calls) == {"cuda"} and result.summary.doppler_px == 2 * BLOB


@pytest.mark.parametrize("video", [False, True], ids=["grade", "grade-with-overlay-video"])
def test_each_frame_is_counted_once(rng, settings, monkeypatch, tmp_path, video):
    """One counting call per batch covers every frame; the selected frame's mask and the overlay video's
    Doppler pixels come from the frames that pass counted (classified again on the host, inside the tendon,
    while their batch lasts), not from a second count."""
    import cuda_ops
    from app.pipeline.measure import scan
    from app.pipeline.outputs import VideoRecorder

    counted: list[int] = []
    real = cuda_ops.count_doppler

    def counting(frames, labels, lut, **kwargs):
        counted.append(frames.shape[0])
        return real(frames, labels, lut, **kwargs)

    monkeypatch.setattr(scan.cuda_ops, "count_doppler", counting)
    frames = _frames(rng)
    options = AnalyzeOptions(roi=RoiSpec(mask=_tendon_mask()))
    if video:
        with VideoRecorder(tmp_path / "clip.mp4") as recorder:
            analysis = run_analysis(_clip(frames), options, settings=settings, observer=recorder)
        assert recorder.written
    else:
        analysis = run_analysis(_clip(frames), options, settings=settings)
    assert sum(counted) == frames.shape[0]
    assert analysis.doppler_mask.sum() == analysis.result.summary.doppler_px

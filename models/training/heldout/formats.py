"""File formats of the held-out family: how a case's frames are written, as a scanner or a viewer would.

Stills: PNG, JPEG (quality 75-95), single-frame DICOM (Ultrasound Image Storage). Clips: MP4 (H.264,
yuv420p) and multi-frame DICOM (Ultrasound Multi-frame Image Storage). DICOM pixel data is native RGB or
JPEG baseline (YBR_FULL_422, one JPEG per frame, 4:2:2 sampling), and half the DICOM files carry an
ultrasound region with the picture's pixel size in cm (DICOM PS3.3 C.8.5.5). Every writer is
deterministic for a given case: UIDs are derived from the case seed and no dates are written.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

__all__ = ["CLIP_FORMATS", "STILL_FORMATS", "encode"]

STILL_FORMATS = ("png", "jpeg", "dicom", "dicom_jpeg")
CLIP_FORMATS = ("mp4", "dicom", "dicom_jpeg")
_UID_ROOT = "1.2.826.0.1.3680043.10.1087."  # a fixed prefix; the rest is derived from the case seed
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def encode(
    frames: np.ndarray,
    fmt: str,
    rng: np.random.Generator,
    *,
    seed: int,
    picture: tuple[int, int, int, int],
    mm_per_px: float,
) -> tuple[bytes, dict[str, object]]:
    """``(N, H, W, 3) uint8 RGB`` frames -> the file's bytes and what was chosen (quality, codec...)."""
    if fmt == "png":
        return _image(frames[0], ".png", []), {"codec": "png"}
    if fmt == "jpeg":
        quality = int(rng.integers(75, 96))
        return _image(frames[0], ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality]), {"codec": "jpeg", "quality": quality}
    if fmt == "mp4":
        crf = int(rng.integers(16, 29))
        fps = int(rng.choice([10, 15, 20, 25, 30]))
        return _mp4(frames, crf, fps), {"codec": "h264", "crf": crf, "fps": fps}
    if fmt in ("dicom", "dicom_jpeg"):
        quality = int(rng.integers(80, 96)) if fmt == "dicom_jpeg" else None
        region = bool(rng.random() < 0.5)
        data = _dicom(frames, quality, seed, picture if region else None, mm_per_px)
        return data, {"codec": "jpeg_baseline" if quality else "native", "quality": quality, "region": region}
    raise ValueError(f"unknown held-out format {fmt!r}; expected one of {sorted({*STILL_FORMATS, *CLIP_FORMATS})}")


def _image(rgb: np.ndarray, ext: str, params: list[int]) -> bytes:
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {rgb.shape} frame as {ext}")
    return data.tobytes()


def _mp4(frames: np.ndarray, crf: int, fps: int) -> bytes:
    """H.264 in MP4, one encoder thread (the same bytes on every run)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _dicom(
    frames: np.ndarray, quality: int | None, seed: int, picture: tuple[int, int, int, int] | None, mm_per_px: float
) -> bytes:
    """An ultrasound DICOM file of the frames: native RGB, or JPEG baseline frames when ``quality`` is set."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

    n, h, w, _ = frames.shape
    sop_class = US_MULTIFRAME if n > 1 else US_IMAGE
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = f"{_UID_ROOT}{seed}.1"
    meta.TransferSyntaxUID = JPEGBaseline8Bit if quality else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = f"{_UID_ROOT}{seed}.2", f"{_UID_ROOT}{seed}.3"
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "HELDOUT^SYNTHETIC", f"HO{seed}"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = h, w, 3
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = 50.0
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
    if picture is not None:
        ds.SequenceOfUltrasoundRegions = [_region(picture, mm_per_px)]
    if quality:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            quality,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
        ]
        ds.PixelData = encapsulate([_image(f, ".jpg", params) for f in frames], has_bot=True)
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _region(picture: tuple[int, int, int, int], mm_per_px: float):
    """One tissue region over the picture, its pixel size in cm (PS3.3 C.8.5.5.1: units 3 = cm)."""
    from pydicom.dataset import Dataset

    x0, y0, x1, y1 = picture
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1 - 1, y1 - 1  # inclusive maxima
    region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 3, 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = mm_per_px / 10
    region.ReferencePixelX0, region.ReferencePixelY0 = 0, 0
    return region

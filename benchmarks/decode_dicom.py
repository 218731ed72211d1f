"""DICOM decode speed: neovasc's frame-by-frame decoder against ``pydicom``'s ``Dataset.pixel_array``.

Both read the same bytes in the same run and produce RGB frames (pydicom converts YBR to RGB by
default). Files: the real multi-frame clips in ``../shared/realdata/dicom`` and pydicom-data, plus
1080x1920 clips made here (JPEG baseline YBR_FULL_422, RLE, uncompressed) so the large-frame case is
measured too. Prints a Markdown table (median of ``--repeats`` runs, frames per second).

    python benchmarks/decode_dicom.py [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

from app.pipeline.decode import Limits, decode

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "dicom"
LIMITS = Limits(max_bytes=1 << 32, max_frame_pixels=4096 * 4096, max_frames=100_000, max_total_pixels=10**11)


def _synthetic(kind: str, frames: int = 48, height: int = 1080, width: int = 1920) -> bytes:
    """A multi-frame US DICOM of B-mode-like noise with a coloured box, JPEG / RLE / native."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid

    rng = np.random.default_rng(0)
    grey = cv2.GaussianBlur(rng.integers(0, 255, (height, width), dtype=np.uint8), (5, 5), 0)
    base = np.repeat(grey[..., None], 3, axis=-1)
    clip = np.repeat(base[None], frames, axis=0)
    clip[:, height // 3 : height // 2, width // 3 : width // 2] = (220, 40, 30)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if kind == "jpeg" else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = height, width, frames
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "RGB"
    ds.FrameTime = 33.3
    if kind == "jpeg":
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate(
            [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
             for f in clip]
        )  # fmt: skip
    else:
        ds.PixelData = clip.tobytes()
        if kind == "rle":
            ds.compress(RLELossless, encoding_plugin="pylibjpeg")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _files() -> list[tuple[str, bytes]]:
    files = []
    for name in ("orthanc_Issue164.dcm", "orthanc_Issue16.dcm", "gdcm_US-PAL-8-10x-echo.dcm"):
        if (REALDATA / name).is_file():
            files.append((name, (REALDATA / name).read_bytes()))
    try:
        import data_store

        path = Path(data_store.__file__).parent / "data" / "color3d_jpeg_baseline.dcm"
        files.append((path.name, path.read_bytes()))
    except ImportError:
        pass
    for kind in ("jpeg", "rle", "native"):
        files.append((f"synthetic 1080x1920 {kind}", _synthetic(kind)))
    return files


def _neovasc(data: bytes) -> int:
    clip = decode(data, LIMITS)
    frames = 0
    for _, batch in clip.batches(16):
        frames += batch.shape[0]
    return frames


def _pydicom(data: bytes) -> int:
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
        array = ds.pixel_array  # converts YBR to RGB
        if ds.PhotometricInterpretation == "PALETTE COLOR":
            array = pydicom.pixels.apply_color_lut(array, ds)
    return int(ds.get("NumberOfFrames", 1) or 1)


def _fps(fn, data: bytes, repeats: int) -> float:
    times, frames = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = fn(data)
        times.append(time.perf_counter() - start)
    return frames / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    if not args.json:
        print(f"frames per second, median of {args.repeats} runs, both readers on the same bytes\n")
        print("| file | codec | colour | frames | size | neovasc fps | pydicom pixel_array fps | ratio |")
        print("|---|---|---|---|---|---|---|---|")
    for name, data in _files():
        clip = decode(data, LIMITS)
        row = {
            "file": name,
            "codec": clip.source.codec,
            "colour": clip.source.colour,
            "frames": clip.num_frames,
            "size": f"{clip.width}x{clip.height}",
            "neovasc_fps": _fps(_neovasc, data, args.repeats),
            "pydicom_fps": _fps(_pydicom, data, args.repeats),
        }
        row["ratio"] = row["neovasc_fps"] / row["pydicom_fps"]
        rows.append(row)
        if not args.json:
            print(
                f"| {name} | {row['codec']} | {row['colour']} | {row['frames']} | {row['size']} | "
                f"{row['neovasc_fps']:.0f} | {row['pydicom_fps']:.0f} | {row['ratio']:.1f}x |",
                flush=True,
            )
    if args.json:
        print(json.dumps({"results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Damaged inputs built from real files: truncations, bit flips, byte runs and header edits.

Built in memory and deterministic (one seeded generator). Every DICOM of the corpus carries the
planted identifiers of :data:`IDENTIFIERS` (patient, study, institution, UIDs), so a test can check
that none of them reaches a result or an error message.

Sources: the real ultrasound files of ``../shared/realdata/dicom`` (skipped where absent), pydicom's
own examples, a few ``pydicom-data`` files, DICOM objects without an image made here with pydicom,
and still images encoded here. Header edits are in :mod:`tests.app.corpus_edits`.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom import examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian

from tests.conftest import grey_background, paint_blobs, png_bytes

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO / ".." / "shared" / "realdata" / "dicom"
ROI = "0,0,16,16"  # fits every undamaged source

# Distinctive values, so that a hit in any output can only be a leak.
IDENTIFIERS: dict[str, str] = {
    "PatientName": "Quorvath^Elspeth^Marigold",
    "PatientID": "NVX48213977",
    "PatientBirthDate": "19370811",
    "StudyDate": "20190614",
    "SeriesDate": "20190615",
    "AcquisitionDateTime": "20190616093712.482913",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.48213977101",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.48213977202",
    "SOPInstanceUID": "1.2.826.0.1.3680043.8.498.48213977303",
    "AccessionNumber": "ACC77120459",
    "InstitutionName": "Thistlewood Orthopaedic Infirmary",
    "ReferringPhysicianName": "Fennimore^Octavian",
    "OperatorsName": "Brackwater^Isolde",
}


def forbidden_strings() -> list[str]:
    """Every planted value, the parts of each person name, and each date in DICOM and ISO form."""
    words = set(IDENTIFIERS.values())
    for key in ("PatientName", "ReferringPhysicianName", "OperatorsName"):
        words.update(IDENTIFIERS[key].split("^"))
    words.update(IDENTIFIERS["InstitutionName"].split()[:1])
    for key in ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDateTime"):
        day = IDENTIFIERS[key][:8]
        words.update({day, f"{day[:4]}-{day[4:6]}-{day[6:]}", f"{day[:4]}/{day[4:6]}/{day[6:]}"})
    words.update({"093712", "09:37:12"})  # the acquisition time of day
    words.add("48213977")  # the UIDs' distinctive part, and the patient ID's
    return sorted(words)


def find_leaks(text: str | bytes) -> list[str]:
    """The planted strings found in ``text`` (case-insensitive)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    low = text.lower()
    return [word for word in forbidden_strings() if word.lower() in low]


def plant_identifiers(ds: Dataset) -> None:
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = IDENTIFIERS["SOPInstanceUID"]


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


@dataclass(frozen=True)
class Sample:
    """One corpus input. ``expect``: the error codes allowed (None: any documented outcome, or a Result)."""

    name: str
    data: bytes
    roi: str = ROI
    expect: frozenset[str] | None = None


def package_file(name: str) -> Path | None:
    try:
        import data_store  # pydicom-data: the files live in its data/ folder
    except ImportError:
        return None
    path = Path(data_store.__file__).parent / "data" / name
    return path if path.is_file() else None


# The real ultrasound files of ../shared/realdata/dicom (README there), with what each brings.
REAL_FILES = (
    "orthanc_Issue19.dcm",  # YBR_FULL uncompressed
    "orthanc_TS_1.2.840.10008.1.2.4.50.dcm",  # JPEG baseline
    "orthanc_Implicit-vr-us-palette.dcm",  # implicit VR, palette colour
    "nemaWG04_US1_RLE.dcm",  # RLE RGB with ultrasound regions
    "barre_US-RGB-8-epicard.dcm",  # big endian, planar configuration 1
    "orthanc_jp2k91YBR-ICT.dcm",  # JPEG 2000 lossy
    "orthanc_Issue16.dcm",  # 34 JPEG frames
    "gdcm_US-PAL-8-10x-echo.dcm",  # 10 RLE palette frames
    "orthanc_Issue164.dcm",  # 87 JPEG frames of 975x743
)
PACKAGE_FILES = ("US1_UNCR.dcm", "color-px.dcm", "OBXXXX1A.dcm", "emri_small_jpeg_ls_lossless.dcm")
EXAMPLES = ("jpeg2k", "ybr_color", "palette_color", "rgb_color")


def source_paths(full: bool = True) -> dict[str, Path]:
    """The DICOM sources found here, by a short label.

    ``full=False``: the real ultrasound files with one JPEG 2000 and one JPEG-LS file beside them; the
    package files stand in for the real ones where ``../shared/realdata`` is missing.
    """
    paths: dict[str, Path] = {}
    for name in REAL_FILES:
        if (REALDATA / name).is_file():
            paths[name.removesuffix(".dcm")] = REALDATA / name
    everything = full or not paths
    for key in EXAMPLES if everything else EXAMPLES[:1]:
        paths[f"examples-{key}"] = Path(examples.get_path(key))
    for name in PACKAGE_FILES if everything else PACKAGE_FILES[-1:]:
        path = package_file(name)
        if path is not None:
            paths[name.removesuffix(".dcm")] = path
    return paths


def planted_copy(path: Path) -> bytes:
    """The file re-written with the planted identifiers (same encoding, pixel data untouched)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one package file is cut short on purpose
        ds = pydicom.dcmread(path)
    plant_identifiers(ds)
    return to_bytes(ds)


@dataclass(frozen=True)
class Layout:
    """Byte offsets in a DICOM file: end of the file meta, the Pixel Data tag, fragment starts, some header tags."""

    meta_end: int
    pixel_start: int
    fragments: tuple[int, ...]
    header_tags: tuple[int, ...]


_HEADER_TAGS = ((0x0008, 0x0020), (0x0010, 0x0010), (0x0018, 0x6011), (0x0028, 0x0004), (0x0028, 0x0010))


def layout(data: bytes) -> Layout:
    meta_end = 144 + int.from_bytes(data[140:144], "little")  # (0002,0000) group length, explicit VR LE
    fp = io.BytesIO(data)
    ds = pydicom.dcmread(fp, stop_before_pixels=True)
    pixel_start = fp.tell()
    little = ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.2"
    order = "little" if little else "big"
    tags = []
    for group, element in _HEADER_TAGS:
        pattern = group.to_bytes(2, order) + element.to_bytes(2, order)
        found = data.find(pattern, meta_end, pixel_start)
        if found >= 0:
            tags.append(found)
    fragments = []
    if data[pixel_start + 8 : pixel_start + 12] == b"\xff\xff\xff\xff":  # encapsulated: walk the items
        pos = pixel_start + 12
        while data[pos : pos + 4] == b"\xfe\xff\x00\xe0":
            fragments.append(pos)
            pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
    return Layout(meta_end, pixel_start, tuple(fragments), tuple(sorted(tags)))


def truncations(label: str, data: bytes, where: Layout, preamble: bool) -> Iterator[Sample]:
    """Cuts inside the preamble (``preamble``), the file meta, header elements, pixel data and fragments."""
    offsets = {where.meta_end - 3, where.meta_end, where.meta_end + 5, where.pixel_start, where.pixel_start + 6}
    offsets |= {140, 200} | ({1, 64, 130} if preamble else set())
    for tag in where.header_tags:
        offsets |= {tag + 2, tag + 9}
    chosen = where.fragments[:3] + where.fragments[-1:]
    for fragment in chosen:
        offsets |= {fragment + 4, fragment + 8 + 3}
    body = len(data) - where.pixel_start
    offsets |= {where.pixel_start + int(body * f) for f in (0.5, 0.9)} | {len(data) - 1}
    for offset in sorted(o for o in offsets if 0 < o < len(data)):
        yield Sample(f"{label}/cut@{offset}", data[:offset])


def flips(label: str, data: bytes, where: Layout, rng: np.random.Generator, many: bool = True) -> Iterator[Sample]:
    """Bit flips (single and 8; ``many=False``: 8 only) and runs of random (and constant) bytes, in the
    header and in pixel data."""
    regions = {"header": (where.meta_end, where.pixel_start), "pixels": (where.pixel_start + 12, len(data))}
    for region, (lo, hi) in regions.items():
        for bits in (1, 8) if many else (8,):
            damaged = bytearray(data)
            for pos in rng.integers(lo, hi, size=bits):
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
            yield Sample(f"{label}/flip{bits}-{region}", bytes(damaged))
        for fill in ("random", "ff") if many else ("random",):
            damaged = bytearray(data)
            start = int(rng.integers(lo, max(lo + 1, hi - 48)))
            run = rng.integers(0, 256, size=48, dtype=np.uint8).tobytes() if fill == "random" else b"\xff" * 48
            damaged[start : start + 48] = run[: len(damaged[start : start + 48])]
            yield Sample(f"{label}/run-{fill}-{region}", bytes(damaged))


def with_transfer_syntax(data: bytes, uid: str) -> bytes:
    """The same file with only the Transfer Syntax UID of its file meta changed (the data stays as it was)."""
    where = layout(data)
    meta = read(data).file_meta
    meta.TransferSyntaxUID = UID(uid)
    meta.pop("FileMetaInformationGroupLength", None)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, meta, enforce_standard=True)
    return data[:132] + fp.getvalue() + data[where.meta_end :]


def non_image_dicoms() -> list[Sample]:
    """A Basic Text SR and an RT Structure Set made with pydicom: no Pixel Data, so ``not_an_image``."""
    samples = []
    for label, sop_class, modality in (
        ("basic-text-sr", "1.2.840.10008.5.1.4.1.1.88.11", "SR"),
        ("rt-structure-set", "1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT"),
    ):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.Modality = UID(sop_class), modality
        if modality == "SR":
            item = Dataset()
            item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", "tendon thickened"
            ds.ValueType, ds.ContentSequence = "CONTAINER", [item]
        else:
            roi = Dataset()
            roi.ROINumber, roi.ROIName = 1, "TENDON"
            ds.StructureSetLabel, ds.StructureSetROISequence = "TENDON", [roi]
        plant_identifiers(ds)
        data = to_bytes(ds)
        samples.append(Sample(f"{label}/whole", data, expect=frozenset({"not_an_image"})))
        samples.append(Sample(f"{label}/cut@{len(data) - 5}", data[: len(data) - 5]))
    return samples


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_size(png: bytes, width: int, height: int, fix_crc: bool) -> bytes:
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    chunk = _png_chunk(b"IHDR", bytes(ihdr)) if fix_crc else png[8:16] + bytes(ihdr) + png[29:33]
    return png[:8] + chunk + png[33:]


def _jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    sof = jpeg.find(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def still_images(rng: np.random.Generator) -> list[Sample]:
    """A Doppler-like PNG and JPEG made here, then cut, flipped and given absurd sizes."""
    image = grey_background(96, 128, rng)
    paint_blobs(image, [(20, 20, 40, 30), (60, 50, 70, 70)])
    png = png_bytes(image)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    jpeg = jpeg.tobytes()
    samples = [Sample("png/whole", png), Sample("jpeg/whole", jpeg)]
    for label, data in (("png", png), ("jpeg", jpeg)):
        for offset in (4, 12, 24, 40, len(data) // 2, len(data) - 10, len(data) - 1):
            samples.append(Sample(f"{label}/cut@{offset}", data[:offset]))
        for index in range(4):
            damaged = bytearray(data)
            for pos in rng.integers(8 if index < 2 else len(data) // 3, len(data), size=1 + 3 * index):
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
            samples.append(Sample(f"{label}/flip-{index}", bytes(damaged)))
    too_large = frozenset({"input_too_large"})
    samples += [
        Sample("png/ihdr-65535x65535", _png_with_size(png, 65535, 65535, fix_crc=True), expect=too_large),
        Sample("png/ihdr-5000x5000", _png_with_size(png, 5000, 5000, fix_crc=True), expect=too_large),
        Sample("png/ihdr-0x96", _png_with_size(png, 0, 96, fix_crc=True)),
        Sample("png/ihdr-bad-crc", _png_with_size(png, 129, 96, fix_crc=False)),
        Sample("jpeg/sof-65500x65500", _jpeg_with_size(jpeg, 65500, 65500), expect=too_large),
        Sample("jpeg/sof-0x0", _jpeg_with_size(jpeg, 0, 0)),
    ]
    return samples


def not_media(rng: np.random.Generator) -> list[Sample]:
    """Inputs that are no image, video or DICOM, and a DICOM shell without a dataset."""
    unsupported = frozenset({"unsupported_input"})
    return [
        Sample("empty", b"", expect=frozenset({"empty_input"})),
        Sample("random-bytes", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), expect=unsupported),
        Sample("text", b"patient report, not an image\n" * 20, expect=unsupported),
        Sample("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 400, expect=unsupported),
        Sample("zip", b"PK\x03\x04" + rng.integers(0, 256, 600, dtype=np.uint8).tobytes(), expect=unsupported),
        Sample("dicm-only", b"\0" * 128 + b"DICM", expect=frozenset({"decode_error"})),
        Sample("dicm-zeros", b"\0" * 128 + b"DICM" + b"\0" * 400, expect=frozenset({"decode_error"})),
        Sample("no-preamble-garbage", b"\x08\x00\x05\x00CS" + rng.integers(0, 256, 700, dtype=np.uint8).tobytes()),
    ]


def video_bytes(rng: np.random.Generator, fmt: str, codec: str, frames: int = 8) -> bytes:
    """A small Doppler-like clip, ``(48, 64)`` pixels, encoded with PyAV (``frames=0``: a stream without frames)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        container.start_encoding()  # writes the header even when no frame follows
        for i in range(frames):
            image = grey_background(48, 64, rng)
            paint_blobs(image, [(8 + 2 * i, 10, 20 + 2 * i, 20)])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def videos(rng: np.random.Generator) -> list[Sample]:
    """An MP4 (H.264) and an AVI (MJPEG) made here, cut and flipped; and an MP4 without frames."""
    samples = [
        Sample("mp4-no-frames/whole", video_bytes(rng, "mp4", "libx264", frames=0)),
        Sample("avi-no-frames/whole", video_bytes(rng, "avi", "mjpeg", frames=0)),
    ]
    for label, fmt, codec in (("mp4", "mp4", "libx264"), ("avi", "avi", "mjpeg")):
        data = video_bytes(rng, fmt, codec)
        samples.append(Sample(f"{label}/whole", data))
        for offset in (6, 11, 40, 200, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
            samples.append(Sample(f"{label}/cut@{offset}", data[:offset]))
        for index in range(6):
            damaged = bytearray(data)
            for pos in rng.integers(12, len(data), size=1 + 4 * index):
                damaged[pos] ^= 1 << int(rng.integers(0, 8))
            samples.append(Sample(f"{label}/flip-{index}", bytes(damaged)))
        index = data.find(b"moov" if fmt == "mp4" else b"idx1")
        if index > 0:
            damaged = bytearray(data)
            damaged[index + 4 : index + 36] = b"\xff" * 32
            samples.append(Sample(f"{label}/index-run-ff", bytes(damaged)))
    return samples

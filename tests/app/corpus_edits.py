"""Header edits for the damaged corpus: absurd or inconsistent image attributes, broken palettes, garbage
ultrasound regions, wrong transfer syntaxes, unreadable value representations and a Manufacturer element that
swallows its neighbours.

Edits go through pydicom with value validation off, so values the standard forbids are written as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from pydicom import config
from pydicom.dataset import Dataset

from tests.app.corpus import IDENTIFIERS, Sample, read, to_bytes, with_transfer_syntax

Edit = Callable[[Dataset], None]
TOO_LARGE = frozenset({"input_too_large"})
UNSUPPORTED_TS = frozenset({"unsupported_transfer_syntax"})


def _set(**values) -> Edit:
    def edit(ds: Dataset) -> None:
        for keyword, value in values.items():
            setattr(ds, keyword, value)

    return edit


def _delete(*keywords: str) -> Edit:
    def edit(ds: Dataset) -> None:
        for keyword in keywords:
            ds.pop(keyword, None)

    return edit


def _scale_rows(ds: Dataset) -> None:
    ds.Rows = min(65535, int(ds.Rows) * 2)


def _odd_width(ds: Dataset) -> None:
    ds.Columns = int(ds.Columns) + 1


def _region(box: tuple[int, int, int, int], units: int, delta: float) -> Dataset:
    item = Dataset()
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = box
    item.RegionSpatialFormat, item.RegionDataType = 1, 1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = units
    item.PhysicalDeltaX = item.PhysicalDeltaY = delta
    return item


def _regions(*deltas: float) -> Edit:
    """Regions that hold the corpus ROI and state ``deltas`` cm per pixel, after some malformed ones."""

    def edit(ds: Dataset) -> None:
        partial = Dataset()
        partial.RegionLocationMinX0 = 3  # the other corners missing
        items = [Dataset(), partial, _region((500, 400, 10, 5), 3, 0.01), _region((0, 0, 4294967295, 2**31), 9, -1.0)]
        items += [_region((0, 0, 60 - 5 * i, 60 - 5 * i), 3, delta) for i, delta in enumerate(deltas)]
        ds.SequenceOfUltrasoundRegions = items

    return edit


# (label, edit, error codes allowed: None = any documented outcome)
GENERAL_EDITS: tuple[tuple[str, Edit, frozenset[str] | None], ...] = (
    ("rows-0", _set(Rows=0), frozenset({"decode_error"})),
    ("rows-cols-65535", _set(Rows=65535, Columns=65535), TOO_LARGE),
    ("rows-cols-1", _set(Rows=1, Columns=1), None),
    ("rows-double", _scale_rows, None),
    ("cols-odd", _odd_width, None),
    ("frames-1e9", _set(NumberOfFrames=10**9), TOO_LARGE),
    ("frames-5000", _set(NumberOfFrames=5000), None),
    ("frames-0", _set(NumberOfFrames=0), None),
    ("frames-negative", _set(NumberOfFrames=-3), frozenset({"no_frames"})),
    ("bits-allocated-12", _set(BitsAllocated=12), None),
    ("bits-allocated-64", _set(BitsAllocated=64), frozenset({"unsupported_input"})),
    ("bits-stored-40", _set(BitsStored=40), None),
    ("samples-2", _set(SamplesPerPixel=2), frozenset({"decode_error"})),
    ("samples-0", _set(SamplesPerPixel=0), frozenset({"decode_error"})),
    ("photometric-hsv", _set(PhotometricInterpretation="HSV"), frozenset({"unsupported_input"})),
    ("photometric-patient-id", _set(PhotometricInterpretation=IDENTIFIERS["PatientID"]), None),
    ("photometric-missing", _delete("PhotometricInterpretation"), None),
    ("signed", _set(PixelRepresentation=1), None),
    ("planar-7", _set(PlanarConfiguration=7), None),
    ("pixel-data-removed", _delete("PixelData"), frozenset({"decode_error"})),
    ("image-removed", _delete("PixelData", "Rows", "Columns"), frozenset({"decode_error"})),  # an image storage class
    ("regions-garbage", _regions(float("nan")), None),
    ("regions-infinite", _regions(0.01, math.inf), None),
    ("regions-overflow", _regions(1e308), None),
)

COLOUR_EDITS: tuple[tuple[str, Edit, frozenset[str] | None], ...] = (
    ("planar-swapped", lambda ds: setattr(ds, "PlanarConfiguration", 1 - int(ds.get("PlanarConfiguration", 0))), None),
    ("photometric-grey", _set(PhotometricInterpretation="MONOCHROME2"), frozenset({"decode_error"})),
    ("photometric-rgb", _set(PhotometricInterpretation="RGB"), None),
    ("photometric-ybr-422", _set(PhotometricInterpretation="YBR_FULL_422"), None),
)

_LUTS = ("Red", "Green", "Blue")
PALETTE_EDITS: tuple[tuple[str, Edit, frozenset[str] | None], ...] = (
    ("lut-descriptor-zero", _set(**{f"{c}PaletteColorLookupTableDescriptor": [0, 0, 0] for c in _LUTS}), None),
    ("lut-descriptor-65536", _set(RedPaletteColorLookupTableDescriptor=[0, 0, 16]), None),
    ("lut-descriptor-bits-7", _set(GreenPaletteColorLookupTableDescriptor=[256, 0, 7]), None),
    ("lut-descriptor-first-huge", _set(BluePaletteColorLookupTableDescriptor=[3, 65535, 16]), None),
    ("lut-descriptor-missing", _delete("RedPaletteColorLookupTableDescriptor"), None),
    ("lut-data-missing", _delete("GreenPaletteColorLookupTableData"), None),
    ("lut-data-short", _set(RedPaletteColorLookupTableData=b"\x01\x02"), None),
    ("lut-segmented-garbage", _set(SegmentedRedPaletteColorLookupTableData=b"\x01\x00\xff\xff" * 4), None),
    ("palette-samples-3", _set(SamplesPerPixel=3), frozenset({"decode_error"})),
    ("palette-as-grey", _set(PhotometricInterpretation="MONOCHROME2"), None),
)

# (label, transfer syntax UID). Only the file meta changes: the data keep their own encoding.
TRANSFER_SYNTAXES: tuple[tuple[str, str], ...] = (
    ("ts-jpeg-baseline", "1.2.840.10008.1.2.4.50"),
    ("ts-jpeg2000", "1.2.840.10008.1.2.4.90"),
    ("ts-rle", "1.2.840.10008.1.2.5"),
    ("ts-jpeg-ls", "1.2.840.10008.1.2.4.80"),
    ("ts-htj2k", "1.2.840.10008.1.2.4.201"),
    ("ts-explicit-le", "1.2.840.10008.1.2.1"),
    ("ts-implicit-le", "1.2.840.10008.1.2"),
    ("ts-big-endian", "1.2.840.10008.1.2.2"),
    ("ts-deflate", "1.2.840.10008.1.2.1.99"),
    ("ts-unknown", "1.2.3.4.5.6.7"),
    ("ts-study-uid", IDENTIFIERS["StudyInstanceUID"]),
    ("ts-mpeg4", "1.2.840.10008.1.2.4.102"),
    ("ts-jpeg-lossless", "1.2.840.10008.1.2.4.70"),
)
# Refused by name whatever the pixel data hold, as long as the dataset still parses (explicit VR little endian).
_TS_EXPECT = {"ts-mpeg4": UNSUPPORTED_TS, "ts-jpeg-lossless": UNSUPPORTED_TS}
_EXPLICIT_LE_DATA = {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.91"}


def edited(label: str, data: bytes, edits) -> Iterator[Sample]:
    """One sample per edit, each applied to a fresh copy of ``data``."""
    with config.disable_value_validation():
        for name, edit, expect in edits:
            ds = read(data)
            edit(ds)
            yield Sample(f"{label}/{name}", to_bytes(ds), expect=expect)


# Edits after which the image usually still decodes: each costs a whole analysis.
READABLE_EDITS = frozenset(
    {"signed", "planar-7", "regions-garbage", "regions-infinite", "regions-overflow", "frames-text"}
    | {"planar-swapped", "photometric-rgb", "photometric-ybr-422", "palette-as-grey", "lut-descriptor-bits-7"}
    | {"lut-descriptor-first-huge", "lut-segmented-garbage"}
)


def header_edits(label: str, data: bytes, readable: bool = True) -> Iterator[Sample]:
    """The general edits, plus colour or palette edits that fit the file's colour model.

    ``readable=False`` leaves out :data:`READABLE_EDITS`.
    """
    ds = read(data)
    edits = list(GENERAL_EDITS)
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        edits += PALETTE_EDITS
    elif ds.SamplesPerPixel == 3:
        edits += COLOUR_EDITS
    yield from edited(label, data, [e for e in edits if readable or e[0] not in READABLE_EDITS])
    if readable:
        yield from frames_not_a_number(label, data)


def frames_not_a_number(label: str, data: bytes) -> Iterator[Sample]:
    """NumberOfFrames holding text (pydicom will not write it, so the value's bytes are replaced)."""
    ds = read(data)
    ds.NumberOfFrames = 9731
    written = to_bytes(ds)
    at = written.find(
        b"9731", written.find(b"\x28\x00\x08\x00") if ds.is_little_endian else written.find(b"\x00\x28\x00\x08")
    )
    yield Sample(f"{label}/frames-text", written[:at] + b"many" + written[at + 4 :])


def transfer_syntax_edits(label: str, data: bytes) -> Iterator[Sample]:
    own = str(read(data).file_meta.TransferSyntaxUID)
    for name, uid in TRANSFER_SYNTAXES:
        if uid != own:
            expect = _TS_EXPECT.get(name) if own in _EXPLICIT_LE_DATA else None
            yield Sample(f"{label}/{name}", with_transfer_syntax(data, uid), expect=expect)


def unknown_vrs(label: str, data: bytes) -> Iterator[Sample]:
    """Image attributes whose VR bytes are garbage (explicit VR little endian files only): unreadable values."""
    for keyword, tag in (
        ("samples", b"\x28\x00\x02\x00"),
        ("bits-allocated", b"\x28\x00\x00\x01"),
        ("rows", b"\x28\x00\x10\x00"),
    ):
        at = data.find(tag + b"US")
        if at > 0:
            yield Sample(f"{label}/vr-garbage-{keyword}", data[: at + 4] + b"UQ" + data[at + 6 :])


def manufacturer_overrun(label: str, data: bytes) -> Iterator[Sample]:
    """The Manufacturer element's length made longer, so its value runs into InstitutionName and beyond."""
    at = data.find(b"\x08\x00\x70\x00LO")
    if at < 0:
        return
    length = int.from_bytes(data[at + 6 : at + 8], "little")
    for extra in (24, 64):
        damaged = data[: at + 6] + (length + extra).to_bytes(2, "little") + data[at + 8 :]
        yield Sample(f"{label}/manufacturer-overrun-{extra}", damaged)

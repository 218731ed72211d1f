"""DICOM (pydicom 3): single- and multi-frame images in every colour model and common compression.

Frames are decoded one at a time, on demand, so a long clip is never held whole. pydicom parses the header
only; the pixel data are used in place, as views into the file's bytes (:mod:`.dicom_pixels`): a whole read
would copy them out of the buffer and splitting them into frames would copy them again (3x the file in memory,
~0.3 s per 300 MB).

The frames themselves are decoded by :mod:`.dicom_frames`:

* JPEG baseline / extended frames stored as YCbCr (``YBR_FULL_422``, ``YBR_FULL``) go straight from
  their fragment bytes to OpenCV's libjpeg-turbo, which applies the JPEG (JFIF) YCbCr -> RGB transform.
  Over a multi-frame clip this ran about 8x faster than ``Dataset.pixel_array``.
* Uncompressed and deflated 8- and 16-bit frames are views into the pixel data; 8-bit RLE goes through
  pylibjpeg-rle with its fragments located once.
* Everything else (JPEG-LS, JPEG 2000, JPEG baseline stored as RGB, other sample depths) is decoded per frame
  by pydicom's decoder plugins (``pydicom.pixels.pixel_array(ds, index=i)``), which also turn
  ``YBR_FULL``/``YBR_FULL_422`` into RGB and let the JPEG 2000 codec undo ``YBR_RCT``/``YBR_ICT``.
* ``PALETTE COLOR`` goes through its lookup table, built once; 16-bit table entries keep their 8 most
  significant bits. ``MONOCHROME1`` is inverted; samples deeper than 8 bits keep their top 8 bits.

Patient data never leaves this module: :class:`~app.pipeline.decode.base.SourceInfo` takes only
encoding facts (transfer syntax and storage class, which are public standard constants, the colour
model, the maker), and error messages quote sizes and standard names, never element values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.errors import DecodeError, NoFrames, NotAnImage, UnsupportedInput, UnsupportedTransferSyntax

from .base import Clip, Limits, SourceInfo
from .dicom_frames import JPEG_8BIT, frame_decoder
from .dicom_header import frame_rate, regions, sop_class_name, vendor
from .dicom_pixels import PixelData, header_int, header_value, pydicom_module, read_header
from .image import jpeg_coding

_CODEC_NAMES = {
    "1.2.840.10008.1.2": "uncompressed",
    "1.2.840.10008.1.2.1": "uncompressed",
    "1.2.840.10008.1.2.2": "uncompressed",
    "1.2.840.10008.1.2.1.99": "deflate",
    "1.2.840.10008.1.2.5": "rle",
    "1.2.840.10008.1.2.4.50": "jpeg-baseline",
    "1.2.840.10008.1.2.4.51": "jpeg-extended",
    "1.2.840.10008.1.2.4.57": "jpeg-lossless",
    "1.2.840.10008.1.2.4.70": "jpeg-lossless",
    "1.2.840.10008.1.2.4.80": "jpeg-ls",
    "1.2.840.10008.1.2.4.81": "jpeg-ls",
    "1.2.840.10008.1.2.4.90": "jpeg2000",
    "1.2.840.10008.1.2.4.91": "jpeg2000",
    "1.2.840.10008.1.2.4.201": "htj2k",
    "1.2.840.10008.1.2.4.202": "htj2k",
    "1.2.840.10008.1.2.4.203": "htj2k",
}
# What would read a transfer syntax that the installed plugins cannot (named in the error message).
_PLUGIN_HINTS = {
    "jpeg-lossless": "pylibjpeg-libjpeg (GPL-3.0: pip install 'neovasc[gpl-codecs]') or python-gdcm "
    "(pip install 'neovasc[gdcm]')",
    "jpeg-extended": "pylibjpeg-libjpeg (GPL-3.0: pip install 'neovasc[gpl-codecs]') or python-gdcm",
    "jpeg-ls": "pyjpegls (a default dependency: reinstall neovasc) or python-gdcm",
    "jpeg2000": "pylibjpeg-openjpeg (a default dependency: reinstall neovasc)",
    "htj2k": "pylibjpeg-openjpeg >= 2.0 with pylibjpeg (default dependencies: reinstall neovasc)",
    "rle": "pylibjpeg-rle (a default dependency), or pydicom's own RLE decoder",
}
_VIDEO_SYNTAXES = ("1.2.840.10008.1.2.4.10", "1.2.840.10008.1.2.4.11")  # MPEG-2, MPEG-4/H.264/HEVC prefixes
_COLOUR_MODELS = {
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_RCT",
    "YBR_ICT",
    "PALETTE COLOR",
    "MONOCHROME1",
    "MONOCHROME2",
}
# Other defined terms of Photometric Interpretation (PS3.3 C.7.6.3.1.2), named when refused; any other
# value is file text and is not echoed.
_OTHER_COLOUR_MODELS = {"YBR_PARTIAL_422", "YBR_PARTIAL_420", "HSV", "ARGB", "CMYK", "XYB"}


class DicomDecoder:
    name = "dicom"

    def unavailable_reason(self) -> str | None:
        try:
            pydicom_module()
        except ImportError as exc:  # a core dependency; only a broken install lacks it
            return f"pydicom is not importable ({exc})"
        return None

    def accepts(self, head: bytes) -> bool:
        if head[128:132] == b"DICM":
            return True
        # a dataset without preamble: starts with a group 0x0002 or 0x0008 element, little endian,
        # with an explicit VR (two letters) or an implicit VR's 4-byte length
        if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
            return False
        return head[4:6].isalpha() or int.from_bytes(head[4:8], "little") < 1 << 16

    def decode(self, data: bytes, name: str, limits: Limits) -> Clip:
        ds, pixels = read_header(data, max_inflated=limits.max_decoded_bytes)
        return _clip(ds, pixels, name, limits)


def _transfer_syntax(ds: Any) -> str:
    """The transfer syntax UID; for a dataset without file meta, the encoding pydicom read it with."""
    ts = str(header_value(getattr(ds, "file_meta", {}), "TransferSyntaxUID", "") or "")
    if ts:
        return ts
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    implicit, little = getattr(ds, "original_encoding", (True, True))
    ts = "1.2.840.10008.1.2" if implicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(ts)
    return ts


def _shown_uid(ts: str) -> str:
    """A transfer syntax UID for a message: a standard one as it is; any other is file text, not echoed."""
    from pydicom.uid import AllTransferSyntaxes

    return ts if ts in AllTransferSyntaxes else "(not a standard UID)"


def _shown_term(colour: str) -> str:
    if not colour:
        return "(missing)"
    return colour if colour in _COLOUR_MODELS | _OTHER_COLOUR_MODELS else "(not a defined term)"


def _clip(ds: Any, pixels: PixelData | None, name: str, limits: Limits) -> Clip:
    sop_class = sop_class_name(ds)
    if len(ds) == 0 and pixels is None:
        raise DecodeError("the DICOM file holds no data elements (truncated or corrupt file?)")
    if pixels is None:
        if header_value(ds, "Rows") is not None or "Image Storage" in (sop_class or ""):  # an image cut off or garbled
            raise DecodeError("the DICOM header describes an image but its pixel data is missing (truncated file?)")
        if header_value(ds, "SOPClassUID") is None:
            raise DecodeError("the DICOM data holds neither an image nor a storage class (truncated or corrupt file?)")
        raise NotAnImage(
            f"the DICOM object ({sop_class or 'unknown storage class'}) holds no image pixel data; "
            "send an ultrasound image or clip"
        )
    ts = _transfer_syntax(ds)
    codec = _CODEC_NAMES.get(ts)
    if ts.startswith(_VIDEO_SYNTAXES):
        raise UnsupportedTransferSyntax(
            f"the DICOM file holds an MPEG video stream (transfer syntax {_shown_uid(ts)}); export the clip as MP4 "
            "or as an ultrasound multi-frame image with JPEG frames"
        )
    rows, cols = header_int(ds, "Rows", 0), header_int(ds, "Columns", 0)
    frames = header_int(ds, "NumberOfFrames", 1)
    frames = 1 if frames is None else frames
    samples = header_int(ds, "SamplesPerPixel", 1)
    allocated = header_int(ds, "BitsAllocated", 8)
    stored = header_int(ds, "BitsStored", allocated) or allocated
    colour = str(header_value(ds, "PhotometricInterpretation", "") or "").strip().upper()
    if rows < 1 or cols < 1:
        raise DecodeError(f"the DICOM header declares an image of {cols}x{rows} pixels")
    if frames < 1:
        raise NoFrames(f"the DICOM header declares {frames} frames")
    limits.check_geometry(frames, rows, cols)
    if colour not in _COLOUR_MODELS:
        raise UnsupportedInput(
            f"DICOM photometric interpretation {_shown_term(colour)} is not supported; "
            f"expected one of {', '.join(sorted(_COLOUR_MODELS))}"
        )
    if samples not in (1, 3) or (samples == 3) != (colour not in ("PALETTE COLOR", "MONOCHROME1", "MONOCHROME2")):
        raise DecodeError(f"DICOM {colour} image with {samples} samples per pixel")
    if allocated not in (1, 8, 16, 32) or not 1 <= stored <= allocated:
        raise UnsupportedInput(f"DICOM samples of {stored} bits in {allocated} are not supported")
    _check_decoder(ts, codec)
    _check_native_length(len(pixels.value), ts, frames, rows, cols, samples, allocated, colour)

    decode_frame = frame_decoder(ds, pixels, ts, codec, frames, colour, stored)
    first = decode_frame(0)  # fail fast on undecodable data, before the pipeline starts
    fps, times = frame_rate(ds, frames)
    source = SourceInfo(
        format="dicom",
        colour=colour,
        bit_depth=stored,
        vendor=vendor(ds),
        codec=codec or "unknown",
        transfer_syntax=ts,
        sop_class=sop_class,
        **_coding(ds, pixels, ts, colour),
    )

    def read(start: int, stop: int) -> np.ndarray:
        return np.stack([first if i == 0 else decode_frame(i) for i in range(start, stop)])

    return Clip(
        name=name,
        source=source,
        num_frames=frames,
        height=rows,
        width=cols,
        reader=read,
        fps=fps,
        regions=regions(ds, rows, cols),
        frame_times_ms=times,
        header=ds,
    )


# Transfer syntaxes that may drop information: JPEG baseline and extended, JPEG-LS near-lossless; JPEG 2000 and
# HTJ2K "lossless or lossy" are lossy with the irreversible colour transform (YBR_ICT). The other known ones
# (uncompressed, deflate, RLE, JPEG lossless, JPEG-LS and JPEG 2000 lossless only) keep every sample.
_LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81"}
_EITHER_SYNTAXES = {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"}
_JPEG_SYNTAXES = {*JPEG_8BIT, "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}  # say their coding in the stream
# Photometric interpretations (PS3.3 C.7.6.3.1.2) -> chroma sampling as stored; grey and palette have none.
_SAMPLING_OF_COLOUR = {"YBR_FULL_422": "4:2:2", **dict.fromkeys(("RGB", "YBR_FULL", "YBR_RCT", "YBR_ICT"), "4:4:4")}


def _coding(ds: Any, pixels: PixelData, ts: str, colour: str) -> dict[str, Any]:
    """``chroma_subsampling`` and ``lossy`` of the stored pixels.

    JPEG frames say both in their start-of-frame segment (read from the first fragment). Otherwise the sampling
    follows the photometric interpretation, and the loss the transfer syntax: the irreversible colour transform
    (YBR_ICT) makes JPEG 2000 lossy, and Lossy Image Compression (0028,2110) "01" records a loss before this file,
    such as frames decompressed from JPEG and stored uncompressed.
    """
    sampling = _SAMPLING_OF_COLOUR.get(colour)
    if ts in _LOSSY_SYNTAXES or colour == "YBR_ICT":
        lossy: bool | None = True
    else:
        lossy = None if ts in _EITHER_SYNTAXES or ts not in _CODEC_NAMES else False
    if ts in _JPEG_SYNTAXES and pixels.items is not None and len(pixels.items) > 1:
        coding = jpeg_coding(pixels.items[1])
        if coding is not None:
            sampling, lossy = (coding[0] if sampling is not None else None), coding[1]
    if str(header_value(ds, "LossyImageCompression", "") or "").strip() == "01":
        lossy = True
    return {"chroma_subsampling": sampling, "lossy": lossy}


def _check_decoder(ts: str, codec: str | None) -> None:
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except (NotImplementedError, ValueError) as exc:
        raise UnsupportedTransferSyntax(
            f"DICOM transfer syntax {_shown_uid(ts)} ({codec or 'unknown'}) has no pixel decoder in neovasc"
        ) from exc
    if not decoder.is_available:
        hint = _PLUGIN_HINTS.get(codec or "", "python-gdcm (pip install 'neovasc[gdcm]')")
        raise UnsupportedTransferSyntax(
            f"DICOM transfer syntax {_shown_uid(ts)} ({codec}) needs a decoder that is not installed: {hint}"
        )


def _check_native_length(have: int, ts, frames, rows, cols, samples, allocated, colour) -> None:
    """Uncompressed pixel data (``have`` bytes) must hold every frame the header declares (a truncated file does
    not)."""
    if _CODEC_NAMES.get(ts) not in ("uncompressed", "deflate"):  # deflated data are native once inflated
        return
    if allocated == 1:
        need = math.ceil(frames * rows * cols * samples / 8)
    elif colour == "YBR_FULL_422":
        need = frames * rows * cols * 2 * (allocated // 8)
    else:
        need = frames * rows * cols * samples * (allocated // 8)
    if have < need:
        raise DecodeError(
            f"the DICOM pixel data holds {have} bytes but {frames} frame(s) of {cols}x{rows} need {need} "
            "(truncated file?)"
        )

"""Video: MP4, MOV, AVI, MKV/WebM (H.264, H.265, MPEG-4, MJPEG, ...) through PyAV (FFmpeg).

How it works:

* **Probe, then stream.** ``decode`` reads the headers first with FFmpeg told to decode nothing, and
  checks the frame size and any frame count they state against the limits. Only then does it open the
  bytes normally (FFmpeg may decode a first frame to learn the pixel format and colour tags, never one
  above the pixel limit) and *demux* the video stream without decoding it: every compressed packet is
  counted and its timestamp kept. For these codecs one packet holds one frame, so the count is exact
  and cheap, and it is checked against the limits as it grows: a file that declares or holds too many
  frames or pixels is refused before any pixel data is decoded.
* **Exact frame count.** ``num_frames`` is the number of video packets that carry a frame (empty
  "repeat previous frame" chunks of AVI and packets an MP4 edit list discards are not frames). A
  decode that delivers fewer frames than counted stops with :class:`DecodeError` (corrupt or
  truncated data), never with a short clip; a decoder that delivers more is cut at the count. A
  header that declares more frames than the file holds, or a packet the demuxer marks incomplete, is
  a truncated file: :class:`DecodeError` before decoding.
* **Explicit YUV -> RGB.** The matrix and range come from the stream's tags (ITU-T H.273 codes, as
  FFmpeg's ``AVColorSpace``/``AVColorRange`` carry them): BT.709 (1) or BT.601 (5 BT.470BG,
  6 SMPTE 170M); untagged: BT.709 from 720 lines up (HD), BT.601 below (SD). Range: full when
  tagged full or when the pixel format is a ``yuvj*`` one (JPEG/MJPEG), else limited (studio swing,
  the video default). Other matrices (BT.2020, SMPTE 240M, YCgCo, ...) are refused by name. The pair
  is recorded in :attr:`SourceInfo.yuv_matrix` / ``yuv_range``. 8-bit planar YUV is converted by the
  kernel of :mod:`.yuv` from FFmpeg's planes in place into the batch: the formula rounded, grey
  (Cb = Cr = 128) exactly grey. Other YUV formats (10-bit, NV12, ...) go through swscale with the pair
  passed explicitly (within 3 levels of the formula). RGB, grey and palette formats (PNG, QuickTime
  RLE, FFV1, raw video) are copied without a matrix (both fields ``None``; grey taken as full range).
* **Streaming.** :attr:`Clip.stream` decodes with FFmpeg's automatic frame/slice threads
  (on MPEG-4 1080p about 1.5x the frame rate of one thread) on a thread of its own, so
  that a decoder without frame threads (MJPEG) and the conversion into batches use both cores; batch
  memory is reused once let go. :attr:`Clip.reader` seeks to the
  keyframe at or before the first frame asked for and decodes forward, identifying frames by their
  timestamps; when that cannot be trusted (no or repeated timestamps, a seek that lands late, a frame
  missing after the seek) it decodes from the start instead. Each call opens its own container and
  closes it when done or abandoned. (On a damaged stream, a frame read after a seek can differ from
  the same frame decoded in sequence: error concealment depends on what was decoded before.)

FFmpeg's own log output stays off (PyAV's default); errors are re-raised as named errors whose
messages quote sizes, codec and format names only, never file names or metadata text.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from app.errors import DecodeError, NoFrames, UnsupportedInput

from .base import Clip, Limits, SourceInfo
from .video_frames import AV_IMPORT_ERROR, Layout, av, av_errors, frame_batches, open_container, read_frames

# ISO-BMFF brands of still images (HEIF, AVIF): not videos.
_STILL_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif"}
# QuickTime files that start without 'ftyp' start with one of these atoms.
_QT_ATOMS = {b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}

# Decoders accepted (FFmpeg names). Others are refused rather than handed untested to FFmpeg.
_CODECS = frozenset(
    {"h264", "hevc", "mpeg4", "mjpeg", "mpeg1video", "mpeg2video", "vp8", "vp9", "rawvideo", "png", "ffv1", "qtrle"}
)

# Accepted decoders that keep every sample: raw, PNG, FFV1 and QuickTime RLE frames. The others quantise (H.264
# and H.265 have lossless modes, which scanners and their exports do not use).
_LOSSLESS_CODECS = frozenset({"rawvideo", "png", "ffv1", "qtrle"})
# (log2 horizontal, log2 vertical) chroma subsampling of a pixel format -> J:a:b notation.
_SAMPLING_NAMES = {(0, 0): "4:4:4", (1, 0): "4:2:2", (1, 1): "4:2:0", (2, 0): "4:1:1", (0, 1): "4:4:0"}

# ITU-T H.273 MatrixCoefficients (= FFmpeg AVColorSpace) -> matrix; 2 = unspecified.
_MATRICES = {1: "bt709", 5: "bt601", 6: "bt601"}
_UNSPECIFIED_MATRIX = 2
HD_HEIGHT = 720  # untagged streams: BT.709 (ITU-R BT.709, HDTV) from 720 lines up, else BT.601 (SDTV)
_FULL_RANGE = 2  # AVColorRange JPEG; 1 = MPEG (limited), 0 = unspecified (taken as limited)


def _sniff(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML header; the DocType says which flavour
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _STILL_BRANDS:
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if head[4:8] in _QT_ATOMS:
        return "mov"
    return None


class VideoDecoder:
    name = "video"

    def unavailable_reason(self) -> str | None:
        return AV_IMPORT_ERROR

    def accepts(self, head: bytes) -> bool:
        return _sniff(head) is not None

    def decode(self, data: bytes, name: str, limits: Limits) -> Clip:
        fmt = _sniff(data[:64]) or "mp4"
        layout, source, fps, times = _probe(data, fmt, limits)
        return Clip(
            name=name,
            source=source,
            num_frames=layout.num_frames,
            height=layout.height,
            width=layout.width,
            reader=lambda start, stop: read_frames(layout, start, stop),
            stream=lambda size: frame_batches(layout, size),
            fps=fps,
            frame_times_ms=times,
        )


def _check_header_geometry(data: bytes, fmt: str, limits: Limits) -> None:
    """Limits on the frame size and count that the headers state, read with FFmpeg told to decode nothing.

    (Opening normally lets FFmpeg decode a first frame to learn the pixel format: for a header that
    declares 16k x 16k, hundreds of MB before any check.)
    """
    with av_errors(fmt, "read"), open_container(data, fmt, {"skip_frame": "all"}) as container:
        streams = _video_streams(container)
        if streams and streams[0].codec_context is not None:
            stream, ctx = streams[0], streams[0].codec_context
            if ctx.width > 0 and ctx.height > 0:
                limits.check_geometry(max(stream.frames, 1), ctx.height, ctx.width)


@dataclass
class _Packets:
    """What one demuxing pass (no decoding) learns about the video stream."""

    pts: list  # a timestamp per frame-carrying packet (None where the file has none), in file order
    margin: int = 0  # largest pts - dts
    truncated: str | None = None  # why the file looks cut short


def _probe(data: bytes, fmt: str, limits: Limits) -> tuple[Layout, SourceInfo, float | None, tuple | None]:
    _check_header_geometry(data, fmt, limits)
    # Now FFmpeg may decode a first frame (pixel format, colour tags), never one above the pixel limit.
    with av_errors(fmt, "read"), open_container(data, fmt, {"max_pixels": str(limits.max_frame_pixels)}) as container:
        stream = _video_stream(container, fmt)
        ctx = stream.codec_context
        height, width = ctx.height, ctx.width
        if height < 1 or width < 1 or ctx.format is None:  # FFmpeg found no frame to learn them from
            if stream.frames == 0 and not _declared_seconds(container, stream):
                raise NoFrames(f"the {fmt} video stream holds no frames")
            raise DecodeError(
                f"the {fmt} video gives no frame size or pixel format: its header is corrupt, or the file ends "
                "before its first frame (truncated?)"
            )
        limits.check_geometry(max(stream.frames, 1), height, width)  # the header's own count, if any
        matrix, yuv_range = _yuv_rule(ctx.format, ctx.colorspace, ctx.color_range, height)
        rate = stream.average_rate or stream.guessed_rate
        packets = _count_packets(container, stream, limits, float(rate) if rate else None)
        # Read everything needed now: PyAV objects must not be touched once the container is closed.
        stream_index, time_base, pix_fmt, reorder = stream.index, stream.time_base, ctx.format.name, ctx.reorder_depth
        source = SourceInfo(
            format=fmt,
            colour=pix_fmt,
            bit_depth=max(component.bits for component in ctx.format.components),
            codec=ctx.name,
            yuv_matrix=matrix,
            yuv_range=yuv_range,
            chroma_subsampling=chroma_sampling(ctx.format),
            lossy=ctx.name not in _LOSSLESS_CODECS,
        )
    if packets.truncated:
        raise DecodeError(f"the {fmt} video is truncated: {packets.truncated}")
    if not packets.pts:
        raise NoFrames(f"the {fmt} video stream holds no frames")
    known = None if None in packets.pts else sorted(packets.pts)
    usable = known is not None and len(set(known)) == len(known)
    layout = Layout(
        data=data,
        fmt=fmt,
        stream_index=stream_index,
        num_frames=len(packets.pts),
        height=height,
        width=width,
        pix_fmt=pix_fmt,
        matrix=matrix,
        range=yuv_range,
        max_pixels=max(limits.max_frame_pixels, height * width),
        index_of_pts={p: i for i, p in enumerate(known)} if usable else None,
        sorted_pts=tuple(known) if usable else (),
        seek_margin=packets.margin,
        reorder_depth=reorder,
    )
    times = _frame_times(known, time_base) if known is not None else None
    return layout, source, float(rate) if rate else None, times


def _video_streams(container) -> list:
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _video_stream(container, fmt: str):
    if not container.streams:
        raise DecodeError(f"no stream could be read from the {fmt} header (truncated or corrupt file?)")
    streams = _video_streams(container)
    if not streams:
        raise UnsupportedInput(f"the {fmt} file holds no video stream (audio only or a still image?)")
    stream = streams[0]
    if stream.codec_context is None:  # FFmpeg knows no decoder for the codec it read from the header
        raise DecodeError(f"the {fmt} video's codec is unknown here (corrupt header, or a codec FFmpeg cannot decode)")
    if stream.codec_context.name not in _CODECS:
        raise UnsupportedInput(
            f"video codec {stream.codec_context.name!r} is not supported; send H.264, H.265, MPEG-4, MJPEG, "
            f"MPEG-1/2, VP8/VP9 or uncompressed video (supported: {', '.join(sorted(_CODECS))})"
        )
    return stream


def chroma_sampling(pix: av.VideoFormat) -> str | None:
    """The chroma sampling of a pixel format ("4:2:0" for yuv420p, "4:4:4" for RGB ones); None for grey and
    palette formats or an unusual subsampling."""
    if len(pix.components) < 3:
        return None
    if pix.is_rgb:
        return "4:4:4"
    side = 1024  # any luma size divisible by 4; the chroma size per axis tells the subsampling
    shifts = ((side // pix.chroma_width(side)).bit_length() - 1, (side // pix.chroma_height(side)).bit_length() - 1)
    return _SAMPLING_NAMES.get(shifts)


def _yuv_rule(pix: av.VideoFormat, colorspace: int, color_range: int, height: int) -> tuple[str | None, str | None]:
    """(matrix, range) to apply to a pixel format, from the stream's tags; (None, None) when not YUV."""
    if pix.has_palette or pix.is_rgb or len(pix.components) <= 2:  # palette, RGB, grey (+ alpha)
        return None, None
    if colorspace == _UNSPECIFIED_MATRIX:
        matrix = "bt709" if height >= HD_HEIGHT else "bt601"
    elif colorspace in _MATRICES:
        matrix = _MATRICES[colorspace]
    else:
        raise UnsupportedInput(
            f"video colour matrix code {colorspace} (ITU-T H.273) is not supported; expected BT.601 (5, 6), "
            "BT.709 (1) or untagged. Re-encode the clip with a BT.601 or BT.709 matrix"
        )
    full = color_range == _FULL_RANGE or pix.name.startswith("yuvj")
    return matrix, "full" if full else "limited"


def _count_packets(container, stream, limits: Limits, fps: float | None) -> _Packets:
    """Demux the video stream without decoding it; InputTooLarge as soon as the count passes a limit."""
    found = _Packets(pts=[])
    in_file = 0  # packets the header's frame count includes (empty and discarded ones too)
    first = last = None  # time span of those packets, in the stream's time base
    time_base = stream.time_base
    frame_ticks = int(1 / (fps * time_base)) if fps and time_base else 0  # for packets without a duration
    for packet in container.demux(stream):
        if packet.size == 0 and packet.dts is None:  # PyAV's end-of-stream flush marker
            continue
        in_file += 1
        if packet.is_corrupt:
            found.truncated = f"packet {in_file} is incomplete"
            return found
        when = packet.pts if packet.pts is not None else packet.dts
        if when is not None:
            end = when + (packet.duration or frame_ticks)
            first, last = (when, end) if first is None else (min(first, when), max(last, end))
        if packet.size == 0 or packet.is_discard:
            continue
        found.pts.append(when)
        if packet.pts is not None and packet.dts is not None:
            found.margin = max(found.margin, packet.pts - packet.dts)
        limits.check_geometry(len(found.pts), stream.codec_context.height, stream.codec_context.width)
    declared = _declared_seconds(container, stream)
    held = float((last - first) * time_base) if first is not None and time_base else 0.0
    if stream.frames > in_file:
        found.truncated = f"the header declares {stream.frames} frames but the file holds {in_file}"
    elif declared is not None and declared - held > max(1.5 / (fps or 25), 0.02):  # 2+ frames short
        found.truncated = f"the header declares {declared:.2f} s of video but the file holds {held:.2f} s"
    return found


def _declared_seconds(container, stream) -> float | None:
    """The video's duration as the header states it (the container's, when the video is its only stream)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _frame_times(pts: list[int], time_base: Fraction | None) -> tuple[float, ...] | None:
    if time_base is None:
        return None
    return tuple(float((p - pts[0]) * time_base * 1000) for p in pts)

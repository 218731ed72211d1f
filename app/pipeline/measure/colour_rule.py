"""The colour rule the scan counts with, chosen once per clip from the screen and the source facts.

Lossless RGB keeps the chroma rule (``max(R,G,B) - min(R,G,B) > threshold``, :func:`cuda_ops.chroma_lut`).

Lossy and chroma-subsampled inputs (JPEG stills and DICOM frames, H.264 and other video, 4:2:0 and 4:2:2)
store luma at full resolution but chroma at half resolution or coarser, averaged over 2 x 2 (2 x 1) pixel
blocks and interpolated again on decoding, with quantisation noise on top. Each vessel's colour is smeared a
pixel or two into the grey speckle around it, and the chroma threshold, far below the paint's own chroma,
counts the smear: +16 to +46 % Doppler pixels on the same frames (``benchmarks/lossy_colour.py``). Two facts
of the codec give the rule:

* Luma is not subsampled: a painted pixel keeps the luma of its paint, a grey pixel the smear reaches keeps
  the luma of its speckle.
* Mixing with grey shrinks a colour's chroma vector (Cb, Cr) toward zero without turning it, and the
  codec's averaging is symmetric: across a blurred vessel edge the chroma falls from the paint's to zero,
  and the point where half of it is left is where the edge was. Counting the pixels that keep at least half
  of their paint's chroma counts the vessel's own width, neither the smear outside nor less.

So a colour counts when it is a real Doppler colour faded toward grey by at most about half, at the paint's
luma.
The real colours are the colour bar's (``Screen.colour_bars[0]``) where one was read (:func:`bar_lut`): a
pixel counts when, for some bar colour, its luma lies within :data:`LUMA_TOLERANCE` of that colour's, its
chroma vector lies within :data:`HUE_TOLERANCE` of that colour's direction, and its length is
:data:`HALF_CHROMA` to :data:`MAX_CHROMA_GAIN` times that colour's. Without a bar (:func:`saturation_lut`)
the luma of each paint is unknown; what a map keeps is its saturation, the chroma relative to the most the
RGB cube holds at that luma and hue (1 for every colour on the cube's surface, as the dark-to-bright ramps of
flow and power maps are). The paint's saturation is read per hue from the clip's own chromatic pixels (a high
percentile: the smear and the vessel edges lie below it), and a pixel counts when it keeps at least half of
it. A colour below the chroma threshold never counts, as before. Both are ``(S, S, S)`` colour tables
(:func:`cuda_ops.table_lut`), which every counting backend applies identically.
With a bar and 4:2:0 or 4:2:2 chroma the per-pixel bar test gives way to unmixing (:mod:`.paint_unmix`): the
codec's chroma blur undone over each neighbourhood, the painted pixels repainted in their bar colour for the
chroma rule to count. The bar serves only when its colours are the paint (:func:`_bar_is_the_paint`).
Without a bar, or with one that is not the paint, the paint is read from the clip itself (:func:`clip_paint`,
kind "cores"): the colours of the cores of its coloured patches, pixels deep enough inside a vessel that the
codec's blur left their colour whole, serve as the bar's would and are unmixed the same way. Only a clip with
too few such pixels (thin vessels alone, a few specks) keeps the saturation table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

import cuda_ops
from app.pipeline.decode.base import SourceInfo
from app.pipeline.measure.clip_paint import clip_paint
from app.pipeline.measure.colour_cube import YCBCR, cells, saturation
from app.pipeline.measure.paint_unmix import (
    MIN_PAINT_SHARE,
    Unmixer,
    paint_share,
    paint_table,
    picture_tint,
    unmixer,
)
from app.pipeline.measure.paint_unmix import SIGMAS as SIGMAS_UNMIXED
from app.pipeline.screen import Screen
from app.pipeline.screen.planes import value_chroma

RuleKind = Literal["chroma", "bar", "cores", "saturation"]
# Levels per channel of the tables: 2**6 = 64, cells 4 levels wide, as ColourBar.lut. The rule is decided at
# each cell's centre, so the chroma threshold holds to +-3 levels; with 32 levels (+-7) the dim paint just above
# the threshold, common on real screens, was dropped (5 % of a real ATL frame's count); 128 levels take seconds.
TABLE_BITS = 6
# NEOVASC_COLOUR_RULE: auto chooses per clip; chroma keeps the chroma rule everywhere; table keeps lossy inputs on the
# per-pixel colour tables without unmixing (:mod:`.paint_unmix`), as they were counted before it
RULES = ("auto", "chroma", "table")
LOSSLESS_SAMPLING = (None, "4:4:4")  # chroma sampling that leaves each pixel its own colour (None: grey or unknown)

# A pixel keeps at least this share of a bar colour's chroma: the half-maximum point of a symmetrically blurred
# straight edge is the edge itself, so the count keeps a vessel's width; a little under half, because at the
# ends, bends and corners of small vessels the codec's 2-D averaging leaves less than half even inside the vessel
# (on frames made as in benchmarks/lossy_colour.py with another seed, 0.5 undercounted by 3-5 % in the median
# and 0.45 was within +-1 %).
HALF_CHROMA = 0.45
# Without a bar a pixel keeps at least this share of the paint's saturation: the same half-maximum point, taken
# from the paint's saturation as read from the clip (SATURATION_PERCENTILE, itself below the brightest paint).
HALF_SATURATION = 0.5
# Chroma up to this multiple of a reference colour's still matches it: the codec's ringing overshoots a
# little; a colour much stronger than the reference at the same luma and hue is another colour.
MAX_CHROMA_GAIN = 1.5
# Luma within this many levels (0-255) of a reference colour's: luma is coded at full resolution, but
# quantisation moves it at the edges of vessels, by up to about 20 levels at JPEG quality 75 and H.264 CRF 28
# (90th percentile of the painted pixels' luma error in benchmarks/lossy_colour.py frames).
LUMA_TOLERANCE = 20.0
# Bar colours closer than this in each of Y, Cb and Cr are tested as one (a smooth ramp's neighbours): a small
# share of the tolerances below, which keeps a table's build to tens of milliseconds.
REF_MERGE = 2.0
# Chroma vector within this distance (in Cb/Cr levels) of a reference colour's direction: chroma
# quantisation noise and the mixing of neighbouring map colours across a vessel (a chord between two colours
# of the map) turn the vector a little.
HUE_TOLERANCE = 24.0
# Without a bar: the paint's saturation per hue is this percentile of the saturation of the clip's chromatic
# pixels of that hue, in bins of HUE_BIN_DEGREES; a bin with fewer than MIN_BIN_PX pixels takes the
# percentile over every hue, and a clip without chromatic pixels the cube's surface (saturation 1).
SATURATION_PERCENTILE = 80.0
HUE_BIN_DEGREES = 10
MIN_BIN_PX = 20


@dataclass(frozen=True, eq=False)
class ColourRule:
    """The counting rule of one clip.

    Attributes:
        lut: what the counter applies.
        kind: "chroma" (lossless input, or ``NEOVASC_COLOUR_RULE=chroma``), "bar" (lossy input, the colour
            bar's colours as the reference), "cores" (lossy input, the colours of the cores of the clip's own
            coloured patches as the reference: :func:`clip_paint`) or "saturation" (lossy input with too few).
        lossy: why the input's colours are approximate ("lossy jpeg-baseline, 4:2:2 chroma"), None when exact.
        coloured: the chroma rule: every pixel that carries colour at all. The vessel count groups these
            (docs/grading.md#vessel-count): a vessel narrower than the chroma's resolution keeps less than half
            of its chroma after a lossy codec and would vanish from ``lut``'s pixels, though it is still there.
        unmix: for a lossy input with a bar (or cores) and subsampled chroma, the codec's chroma blur undone before
            counting (:meth:`counted`, :mod:`.paint_unmix`); ``lut`` is then the chroma rule.
    """

    lut: cuda_ops.DopplerLUT
    kind: RuleKind
    lossy: str | None = None
    coloured: cuda_ops.DopplerLUT | None = None
    unmix: Unmixer | None = None

    def counted(self, frames: np.ndarray) -> np.ndarray:
        """What ``lut`` counts for ``frames (B, H, W, 3) uint8`` RGB: the frames themselves, or a repainted
        copy when the rule unmixes."""
        return frames if self.unmix is None else self.unmix.repainted(frames)

    def coloured_pixels(self, frame: np.ndarray, labels: np.ndarray, doppler: np.ndarray) -> np.ndarray:
        """``(H, W) bool``: the labelled pixels of ``frame`` that carry colour, given its Doppler pixels
        ``doppler`` (counted with ``lut``; the same pixels under the chroma rule)."""
        if self.kind == "chroma" or self.coloured is None:
            return doppler
        return cuda_ops.doppler_mask(frame, labels, self.coloured) & (labels != 0)


def lossy_colour(source: SourceInfo) -> str | None:
    """Why ``source``'s colours are approximate (lossy codec, subsampled chroma), or None when they are exact."""
    parts = []
    if source.lossy:
        parts.append(f"lossy {source.codec or source.format}")
    if source.chroma_subsampling not in LOSSLESS_SAMPLING:
        parts.append(f"{source.chroma_subsampling} chroma")
    return ", ".join(parts) or None


def colour_rule(
    screen: Screen,
    source: SourceInfo,
    frames: np.ndarray,
    where: np.ndarray,
    chroma_threshold: int,
    rule: str = "auto",
) -> ColourRule:
    """The rule for a clip: the chroma rule for exact colours, else the bar's or the clip's saturation table.

    ``frames (N, H, W, 3) uint8 RGB``: frames of the clip (the screen's); ``where (H, W) bool``: where Doppler is
    counted (the saturation of the paint is read there). ``rule``: "auto", "chroma" for the chroma rule always,
    or "table" for the per-pixel tables without unmixing.
    """
    if rule not in RULES:
        raise ValueError(f"unknown colour rule {rule!r}; known: {', '.join(RULES)}")
    why = lossy_colour(source)
    chroma = cuda_ops.chroma_lut(chroma_threshold)
    if rule == "chroma" or why is None:
        return ColourRule(chroma, "chroma", why, chroma)
    spread = np.stack([value_chroma(np.ascontiguousarray(frame))[1] for frame in frames])  # (N, H, W) max - min
    coloured = frames[(spread > chroma_threshold) & where]
    unmixed = rule != "table" and source.chroma_subsampling in SIGMAS_UNMIXED
    tint = picture_tint(frames, where, chroma_threshold) if unmixed else None  # the B-mode's, if tinted
    if screen.colour_bars and _bar_is_the_paint(screen.colour_bars[0].colours, coloured, chroma_threshold):
        colours = screen.colour_bars[0].colours
        unmix = (
            None if rule == "table" else unmixer(colours, source.chroma_subsampling, where, chroma_threshold, tint=tint)
        )
        if unmix is not None:
            return ColourRule(chroma, "bar", why, chroma, unmix)
        lut = bar_lut(colours, chroma_threshold)
        if lut is not None:
            return ColourRule(lut, "bar", why, chroma)
    if rule != "table":
        paint = clip_paint(frames, spread, where, chroma_threshold, source.chroma_subsampling)
        unmix = None if paint is None else unmixer(paint, source.chroma_subsampling, where, chroma_threshold, tint=tint)
        if unmix is not None:
            return ColourRule(chroma, "cores", why, chroma, unmix)
    return ColourRule(saturation_lut(coloured, chroma_threshold), "saturation", why, chroma)


def _bar_is_the_paint(colours: np.ndarray, coloured: np.ndarray, chroma_threshold: int) -> bool:
    """Whether the bar's colours are the paint of the coloured pixels ``coloured (M, 3)``: most of those of the
    bar's hues may hold one at their own luma (:data:`~.paint_unmix.MIN_PAINT_SHARE`). A bar read wrong (a part
    of it, its colours dulled by the codec) or the legend of another map does not describe the paint: the
    clip's own saturation serves then."""
    table = paint_table(colours, chroma_threshold)
    if table is None:
        return False
    share = paint_share(table, colours, coloured)
    return share is None or share >= MIN_PAINT_SHARE


@dataclass(frozen=True, eq=False)
class _Grid:
    """The table's cell centres in RGB and YCbCr, and their chroma, in order of luma (cached per table size)."""

    order: np.ndarray  # (S**3,) flat cell indices sorted by luma
    luma: np.ndarray  # (S**3,) float32, sorted
    cb: np.ndarray  # (S**3,) float32, in luma order
    cr: np.ndarray  # (S**3,) float32, in luma order
    chroma: np.ndarray  # (S**3,) float32 max - min, in cell order
    saturation: np.ndarray  # (S**3,) float32 (:func:`saturation`), in cell order
    hue_bin: np.ndarray  # (S**3,) int64 (:func:`_hue_bins`), in cell order


@cache
def _grid(bits: int) -> _Grid:
    cube = cells(bits)
    rgb = cube.rgb
    chroma = rgb.max(axis=1) - rgb.min(axis=1)
    luma, cb, cr = (np.ascontiguousarray(cube.ycc[:, k]) for k in range(3))
    return _Grid(cube.order, luma, cb, cr, chroma, saturation(rgb), _hue_bins(rgb))


@cache
def _chromatic(bits: int, chroma_threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells above the chroma threshold, in order of luma: ``(cell indices, luma, Cb, Cr)``."""
    grid = _grid(bits)
    keep = grid.chroma[grid.order] > chroma_threshold
    return grid.order[keep], grid.luma[keep], grid.cb[keep], grid.cr[keep]


def _table(grid: _Grid, hit: np.ndarray, bits: int) -> cuda_ops.DopplerLUT:
    size = 1 << bits
    shape = (size, size, size)
    return cuda_ops.table_lut(hit.reshape(shape), (grid.chroma / 255.0).astype(np.float32).reshape(shape))


def bar_lut(colours: np.ndarray, chroma_threshold: int, bits: int = TABLE_BITS) -> cuda_ops.DopplerLUT | None:
    """Doppler where a colour is one of ``colours (K, 3) uint8`` (a bar's) faded toward grey at the same luma.

    None when no bar colour is above the chroma threshold (then the bar says nothing about the paint).
    """
    refs = np.asarray(colours, dtype=np.float32).reshape(-1, 3)
    refs = refs[refs.max(axis=1) - refs.min(axis=1) > chroma_threshold]
    if refs.shape[0] == 0:
        return None
    grid = _grid(bits)
    cells, luma, cb, cr = _chromatic(bits, chroma_threshold)
    near = np.zeros(cells.size, dtype=bool)
    # bar colours within REF_MERGE levels of each other in Y, Cb and Cr test alike: merged (a ramp's neighbours)
    for ref_y, ref_cb, ref_cr in np.unique(np.rint(refs @ YCBCR.T / REF_MERGE) * REF_MERGE, axis=0):
        lo, hi = np.searchsorted(luma, [ref_y - LUMA_TOLERANCE, ref_y + LUMA_TOLERANCE], side="left")
        length2 = ref_cb * ref_cb + ref_cr * ref_cr
        if lo >= hi or length2 == 0:
            continue
        cell_cb, cell_cr = cb[lo:hi], cr[lo:hi]
        scale = (cell_cb * ref_cb + cell_cr * ref_cr) / length2  # the cell's chroma as a multiple of the bar colour's
        across = cell_cb * ref_cr - cell_cr * ref_cb  # distance from the bar colour's direction, times its length
        near[lo:hi] |= (
            (scale >= HALF_CHROMA) & (scale <= MAX_CHROMA_GAIN) & (across * across <= HUE_TOLERANCE**2 * length2)
        )
    hit = np.zeros(grid.chroma.size, dtype=bool)
    hit[cells[near]] = True
    return _table(grid, hit, bits)


def _hue_bins(rgb: np.ndarray) -> np.ndarray:
    """Hue of ``(M, 3)`` RGB colours as the angle of (Cb, Cr), in bins of HUE_BIN_DEGREES: ``(M,) int``."""
    cbcr = np.asarray(rgb, dtype=np.float32) @ YCBCR[1:].T
    degrees = np.degrees(np.arctan2(cbcr[:, 1], cbcr[:, 0])) % 360.0
    return (degrees // HUE_BIN_DEGREES).astype(np.int64) % (360 // HUE_BIN_DEGREES)


def paint_saturation(pixels: np.ndarray, chroma_threshold: int) -> np.ndarray:
    """``(360 / HUE_BIN_DEGREES,)``: the paint's saturation per hue bin, from ``pixels (M, 3) uint8`` RGB."""
    pixels = np.asarray(pixels).reshape(-1, 3)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]  # channel by channel: reductions over an axis of 3 crawl
    pixels = pixels[np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b) > chroma_threshold]
    bins = 360 // HUE_BIN_DEGREES
    if pixels.shape[0] < MIN_BIN_PX:
        return np.ones(bins, dtype=np.float32)
    sat = saturation(pixels)
    hue = _hue_bins(pixels)
    paint = np.full(bins, np.percentile(sat, SATURATION_PERCENTILE), dtype=np.float32)
    counts = np.bincount(hue, minlength=bins)
    for b in np.flatnonzero(counts >= MIN_BIN_PX):
        paint[b] = np.percentile(sat[hue == b], SATURATION_PERCENTILE)
    return paint


def saturation_lut(pixels: np.ndarray, chroma_threshold: int, bits: int = TABLE_BITS) -> cuda_ops.DopplerLUT:
    """Doppler where a colour keeps at least half of the paint's saturation at its hue, the paint's read from
    ``pixels (..., 3) uint8`` RGB (the clip's, where Doppler is counted)."""
    paint = paint_saturation(pixels, chroma_threshold)
    grid = _grid(bits)
    hit = (grid.chroma > chroma_threshold) & (grid.saturation >= HALF_SATURATION * paint[grid.hue_bin])
    return _table(grid, hit, bits)

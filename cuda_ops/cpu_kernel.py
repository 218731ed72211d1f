"""Fused CPU counting kernel (numba): each labelled row span read once, on every core.

Why it is shaped this way (figures in ``docs/benchmarks.md``):

* Only each row's labelled span is read: the span and the runs of one label within it are found once
  per label-map row (``label_runs``), and the next row's span is prefetched.
* Rows, runs and blocks are cut out with ``jit.borrow`` (a view without a reference): numba's slices
  take and drop a reference on the parent array, atomic operations that cost more than a short run.
* Byte work runs in unit-stride loops over zero-based views, which LLVM vectorises (``row[b0 + j]``
  carries numba's negative-index check, which stops it), with results cast back to narrow types at
  once to keep 32 or 64 lanes per instruction.
* Per row: one pass classifies the span into a byte buffer in L1 (chroma, or 0 when not Doppler),
  then each run of one label is summed without label tests; rows with very many runs test labels
  instead. Sums go through int32 in pieces of ``_SEGMENT`` pixels, which cannot overflow.
* A table LUT's gather runs only on labelled pixels whose chroma reaches the table's least Doppler
  chroma (exact), and skips 64-pixel blocks without candidates.
* The parallel driver hands out (frame, row block) items one at a time: an item's cost follows its
  labels, so equal static shares would leave a core idle.

Exactness: counts are exact. Chroma sums are exact integers (value = chroma / 255 applied once at
the end). Table sums add float32 LUT values in float64 per pixel: within 1e-12 relative.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

import numpy as np
import torch

from .jit import IMPORT_ERROR, borrow, cached_njit, numba, prange, prefetch, prefetch_bytes
from .label_runs import row_runs
from .lut import DopplerLUT, chroma_as_table, chroma_lut
from .reference import doppler_masks
from .types import MAX_LABELS, FrameCounts

_SEGMENT = 16384  # pixels per int32 accumulation: 16384 * 255**2 < 2**31
_BLOCK = 64  # pixels tested at once for gather candidates
# The next row's span is requested ahead when it starts a new stream, i.e. when unread bytes lie
# between the end of this row's span and the start of the next: the hardware prefetcher needs a few
# misses to lock on to each stream (+25-55 % at 600x800 with 20 % coverage, one thread).
_PREFETCH_GAP_BYTES = 256
# Where the next row's span follows in memory, each 64-pixel block classified asks for the three cache
# lines this many bytes further on: the hardware prefetcher alone left the two cores at about half of
# the streaming-read rate with every pixel labelled; 8-32 KiB ahead all did about equally well.
_AHEAD_BYTES = 16384
_ITEMS_PER_THREAD = 4  # work items per thread when a batch has fewer frames than that


def unavailable_reason() -> str | None:
    """Why the ``cpu`` backend cannot run here, or ``None``."""
    return IMPORT_ERROR


@cached_njit()
def _classify_chroma(px, floor, out):
    """``out[j] = chroma`` of pixel j of ``px (3 * n,) uint8 RGB`` when it exceeds ``floor``, else 0."""
    for j in range(out.shape[0]):
        r = px[3 * j]
        g = px[3 * j + 1]
        b = px[3 * j + 2]
        c = np.uint8(max(r, max(g, b)) - min(r, min(g, b)))
        out[j] = c if c > floor else np.uint8(0)


@cached_njit()
def _classify_ahead(data, o, floor, out, limit):
    """``_classify_chroma`` of the pixels at byte ``o`` of ``data`` into ``out``, 64 at a time, each block
    asking for the three cache lines ``_AHEAD_BYTES`` further on (those below byte ``limit``)."""
    n = out.shape[0]
    full = n // 64
    for i in range(full):
        a = o + 192 * i
        q = a + _AHEAD_BYTES
        if q + 192 <= limit:
            prefetch(data, q)
            prefetch(data, q + 64)
            prefetch(data, q + 128)
        _classify_chroma(borrow(data, a, a + 192), floor, borrow(out, 64 * i, 64 * i + 64))
    if n > 64 * full:
        _classify_chroma(borrow(data, o + 192 * full, o + 3 * n), floor, borrow(out, 64 * full, n))


@cached_njit()
def _label_range(lab):
    """Smallest and largest value in ``lab (n,) uint8``."""
    lo = np.uint8(255)
    hi = np.uint8(0)
    for j in range(lab.shape[0]):
        lo = min(lo, lab[j])
        hi = max(hi, lab[j])
    return lo, hi


@cached_njit()
def _label_chroma(lab, hc, k):
    """Label ``k``'s pixels, Doppler pixels, chroma and chroma² over one segment (int32 lanes)."""
    pixels = np.int32(0)
    hits = np.int32(0)
    total = np.int32(0)
    squares = np.int32(0)
    for j in range(lab.shape[0]):
        inside = lab[j] == k
        h = hc[j] if inside else np.uint8(0)
        h32 = np.int32(h)
        pixels = np.int32(pixels + np.int32(inside))
        hits = np.int32(hits + np.int32(h != 0))
        total = np.int32(total + h32)
        squares = np.int32(squares + np.int32(h32 * h32))
    return pixels, hits, total, squares


@cached_njit()
def _sum_all_chroma(hc, k, counts, sums):
    """Add every pixel of one segment to label ``k``: no label test, the cheapest of the passes."""
    hits = np.int32(0)
    total = np.int32(0)
    squares = np.int32(0)
    for j in range(hc.shape[0]):
        h32 = np.int32(hc[j])
        hits = np.int32(hits + np.int32(h32 != 0))
        total = np.int32(total + h32)
        squares = np.int32(squares + np.int32(h32 * h32))
    counts[0, k] += hc.shape[0]
    counts[1, k] += hits
    sums[0, k] += total
    sums[1, k] += squares


@cached_njit()
def _sum_chroma_by_label(lab, hc, counts, sums):
    """Per-label sums over one classified segment, with as few passes as the labels present allow.

    When every pixel is labelled (smallest label >= 1), the largest label first takes the whole
    segment in a pass without label tests, and each other label present moves its share out of it.
    """
    lo8, hi8 = _label_range(lab)
    lo, hi, rest = np.int64(lo8), np.int64(hi8), np.int64(-1)
    if lo >= 1:
        _sum_all_chroma(hc, hi, counts, sums)
        rest = hi
    for k in range(max(1, lo), hi + 1 if rest < 0 else hi):
        if k in (lo, hi) or _count_label(lab, np.uint8(k)) != 0:  # lo and hi are present; others may not be
            pixels, hits, total, squares = _label_chroma(lab, hc, np.uint8(k))
            counts[0, k] += pixels
            counts[1, k] += hits
            sums[0, k] += total
            sums[1, k] += squares
            if rest >= 0:  # moved out of the label that took the whole segment
                counts[0, rest] -= pixels
                counts[1, rest] -= hits
                sums[0, rest] -= total
                sums[1, rest] -= squares


@cached_njit()
def _count_label(lab, k):
    """Pixels of ``lab (n,) uint8`` equal to ``k``."""
    pixels = np.int32(0)
    for j in range(lab.shape[0]):
        pixels = np.int32(pixels + np.int32(lab[j] == k))
    return pixels


@cached_njit()
def _gather_table(px, lab, hc, every, shift, bits, table_hit, table_value, counts, sums):
    """Look up candidate pixels (``hc != 0``, or every labelled one when ``every``) in the table."""
    n = lab.shape[0]
    flags = lab if every else hc
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        block = borrow(flags, start, stop)
        seen = np.uint8(0)
        for t in range(block.shape[0]):
            seen |= block[t]
        if seen == 0:
            continue
        for j in range(start, stop):
            k = lab[j]
            if k == 0 or flags[j] == 0:
                continue
            index = (
                ((np.int64(px[3 * j]) >> shift) << (2 * bits))
                | ((np.int64(px[3 * j + 1]) >> shift) << bits)
                | (np.int64(px[3 * j + 2]) >> shift)
            )
            if table_hit[index]:
                v = np.float64(table_value[index])
                counts[1, k] += 1
                sums[0, k] += v
                sums[1, k] += v * v


@cached_njit()
def _count_rows(frame, labels, runs, y0, y1, lut_kind, floor, every, shift, bits, table_hit, table_value, out):
    """Rows ``y0:y1`` of one frame. ``frame (H, 3W) uint8``; ``out`` is one item's ``(4, 8) float64``.

    ``runs``: this frame's ``row_runs`` output. ``lut_kind`` 0: chroma rule with threshold
    ``floor``; 1: table, whose candidates have chroma > ``floor``.
    """
    spans, bounds, values, num_runs = runs
    counts = np.zeros((2, 8), np.int64)
    sums = np.zeros((2, 8), np.float64)
    w = frame.shape[1] // 3
    row = 3 * w
    data = frame.reshape(-1)  # rows are cut out of these with borrow(): a slice per row costs 15-25 ns
    flat_labels = labels.reshape(-1)
    hc = np.empty(w, np.uint8)
    for y in range(y0, y1):
        start, end = spans[y, 0], spans[y, 1]
        ahead = y + 1
        gap = ahead < y1 and 3 * (w - end + spans[ahead, 0]) > _PREFETCH_GAP_BYTES
        if gap:
            prefetch_bytes(data, ahead * row + 3 * spans[ahead, 0], ahead * row + 3 * spans[ahead, 1])
        if start == end:
            continue
        lab = borrow(flat_labels, y * w + start, y * w + end)
        px = borrow(data, y * row + 3 * start, y * row + 3 * end)
        seg = borrow(hc, 0, end - start)
        if not every:  # with every labelled pixel a candidate the chroma bytes are not read
            if gap:
                _classify_chroma(px, floor, seg)
            else:
                _classify_ahead(data, y * row + 3 * start, floor, seg, y1 * row)
        if lut_kind == 1:
            _count_pixels(lab, bounds, values, num_runs, y, counts)
            _gather_table(px, lab, seg, every, shift, bits, table_hit, table_value, counts, sums)
        elif num_runs[y] >= 0:  # one pass without label tests per run
            for r in range(num_runs[y]):
                k = values[y, r]
                if k != 0:
                    _sum_run_chroma(borrow(hc, bounds[y, r] - start, bounds[y, r + 1] - start), k, counts, sums)
        else:
            for s0 in range(0, end - start, _SEGMENT):
                s1 = min(end - start, s0 + _SEGMENT)
                _sum_chroma_by_label(borrow(lab, s0, s1), borrow(seg, s0, s1), counts, sums)
    for k in range(8):
        out[0, k] = counts[0, k]
        out[1, k] = counts[1, k]
        out[2, k] = sums[0, k]
        out[3, k] = sums[1, k]


@cached_njit()
def _count_pixels(lab, bounds, values, num_runs, y, counts):
    """Pixels per label of row ``y``'s span ``lab``, from its runs when it has few, else label by label."""
    if num_runs[y] >= 0:
        for r in range(num_runs[y]):
            counts[0, values[y, r]] += bounds[y, r + 1] - bounds[y, r]
        counts[0, 0] = 0
        return
    lo, hi = _label_range(lab)
    for k in range(max(1, lo), hi + 1):
        counts[0, k] += _count_label(lab, np.uint8(k))


@cached_njit()
def _sum_run_chroma(hc, k, counts, sums):
    """Add a run of label ``k`` to its sums, ``_SEGMENT`` pixels at a time (int32 lanes)."""
    n = hc.shape[0]
    for s0 in range(0, n, _SEGMENT):
        _sum_all_chroma(borrow(hc, s0, min(n, s0 + _SEGMENT)), k, counts, sums)


@cached_njit(parallel=True)
def _count_items(frames, labels, runs, parts, lut_kind, floor, every, shift, bits, table_hit, table_value, out):
    """``frames (N, H, 3W) uint8``, ``labels (L, H, W)``; ``out (N * parts, 4, 8) float64`` per item."""
    n, h, _ = frames.shape
    spans, bounds, values, num_runs = runs
    rows = (h + parts - 1) // parts
    for item in prange(n * parts):
        f = item // parts
        y0 = (item - f * parts) * rows
        lf = f if labels.shape[0] > 1 else 0
        _count_rows(
            frames[f], labels[lf], (spans[lf], bounds[lf], values[lf], num_runs[lf]), y0, min(h, y0 + rows),
            lut_kind, floor, every, shift, bits, table_hit, table_value, out[item],
        )  # fmt: skip


_LOCK = threading.Lock()  # one kernel at a time: it already uses every core, and not every numba layer nests


def count_cpu(
    frames: torch.Tensor, labels: torch.Tensor, lut: DopplerLUT, mask_frames: Sequence[int] = ()
) -> FrameCounts:
    """Count with the fused CPU kernel. Arguments as :func:`cuda_ops.reference.count_reference` (CPU tensors)."""
    if IMPORT_ERROR is not None:
        raise RuntimeError(IMPORT_ERROR)
    frames_np = frames.contiguous().numpy()  # (N, H, W, 3) uint8, no copy when already contiguous
    labels_np = labels.contiguous().numpy()  # (N|1, H, W) uint8
    n, h, w, _ = frames_np.shape
    per_frame = np.zeros((n, 4, MAX_LABELS), np.float64)
    if n and h and w:
        per_frame = _run(frames_np.reshape(n, h, w * 3), labels_np, lut)
    scale = 1.0 if lut.kind == "table" else 1.0 / 255.0  # chroma sums are integer chroma until here
    return FrameCounts(
        pixels=per_frame[:, 0].astype(np.int64),  # float64 holds these integers exactly (< 2**53)
        doppler=per_frame[:, 1].astype(np.int64),
        value_sum=per_frame[:, 2] * scale,
        value_sq_sum=per_frame[:, 3] * (scale * scale),
        backend="cpu",
        device="cpu",
        masks=doppler_masks(frames, labels, lut, mask_frames),
    )


# Inputs of up to this many pixels are counted on the calling thread alone. A parallel region waits for every
# worker thread; on a busy machine (a service answering several requests at once) one worker that the OS does not
# schedule at once costs tens of milliseconds (measured: one 480x640 label map, median 0.06 ms, 90th percentile
# 56 ms on two busy cores; one thread: 0.07 ms at both), while a frame this size is counted in about a millisecond.
SERIAL_PIXELS = 1920 * 1088


def _run(frames: np.ndarray, labels: np.ndarray, lut: DopplerLUT) -> np.ndarray:
    """``frames (N, H, 3W) uint8`` -> ``(N, 4, 8) float64`` pixels, Doppler pixels, sum, sum of squares."""
    n, h, w3 = frames.shape
    threads = 1 if n * h * (w3 // 3) <= SERIAL_PIXELS else numba.get_num_threads()
    parts = max(1, min(h, math.ceil(threads * _ITEMS_PER_THREAD / n)))
    out = np.zeros((n * parts, 4, MAX_LABELS), np.float64)
    if lut.kind == "chroma":
        args = (0, np.uint8(lut.threshold), False, 0, 0, _NO_TABLE_HIT, _NO_TABLE_VALUE)
    else:
        floor = np.uint8(min(max(lut.min_chroma - 1, 0), 255))  # candidates: chroma > floor
        args = (1, floor, lut.min_chroma <= 0, 8 - lut.bits, lut.bits, *_flat_table(lut))
    with _LOCK:
        previous = numba.get_num_threads()  # per calling thread in numba
        numba.set_num_threads(threads)
        try:
            runs = row_runs(labels)  # spans and runs of each label row
            with numba.parallel_chunksize(1):  # items handed out one at a time: their cost varies with the labels
                _count_items(frames, labels, runs, parts, *args, out)
        finally:
            numba.set_num_threads(previous)
    return out.reshape(n, parts, 4, MAX_LABELS).sum(axis=1)


_NO_TABLE_HIT = np.zeros(1, np.uint8)
_NO_TABLE_VALUE = np.zeros(1, np.float32)


def _flat_table(lut: DopplerLUT) -> tuple[np.ndarray, np.ndarray]:
    return lut.is_doppler.reshape(-1).view(np.uint8), lut.value.reshape(-1)


def warm_up() -> dict[str, float]:
    """Compile (or load from the cache) both kernel variants; seconds per variant, first call included."""
    frames = torch.zeros((1, 2, 3, 3), dtype=torch.uint8)
    labels = torch.ones((1, 2, 3), dtype=torch.uint8)
    seconds = {}
    for lut in (chroma_lut(), chroma_as_table(bits=2)):
        start = time.perf_counter()
        count_cpu(frames, labels, lut)
        seconds[lut.kind] = time.perf_counter() - start
    return seconds

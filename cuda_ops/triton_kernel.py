"""Fused Triton counting kernel and its launcher: each pixel read once, many frames per launch.

One program counts ``BLOCK`` consecutive pixels of one frame (grid: blocks per frame x frames), so
a batch of frames is one launch. Per program: uint8 loads of the labels, then of R, G and B only
where a label is set (masked-off lanes issue no memory traffic), the LUT (chroma rule, or a gather
into the colour table on candidate pixels only), and one set of reductions per label value up to
the largest present (``NUM_LABELS``, a compile-time constant). Each program writes its own
``(4, 8)`` partial sums (zeros where it has no labels), which torch then sums per frame:
deterministic, no atomics, a handful of launches per call in all.

Chroma sums are exact int32 integers per program (255**2 * 4096 < 2**31); table sums are float32
tree reductions of at most ``BLOCK`` values (see ``SUM_RTOL`` in ``cuda_ops.types``).

The kernel is decorated on first use, not at import, so that ``TRITON_INTERPRET=1`` set by a test
after ``triton`` was imported is honoured; under the interpreter it runs on CPU tensors. For the same
reason it calls only builtins (``tl.full``, and ``tl.reduce`` with Triton's own combine functions),
not ``tl.zeros``, ``tl.sum`` or ``tl.max``: those are ``@jit`` helpers fixed to the mode that was
active when ``triton`` was imported. The interpreter runs ``tl.reduce`` as one numpy reduction when
it recognises the combine function; compiled, it is exactly what ``tl.sum`` emits.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from functools import cache

import numpy as np
import torch

from .lut import DopplerLUT
from .reference import doppler_masks
from .types import MAX_LABELS, FrameCounts

try:
    import triton
    import triton.language as tl
except ImportError as exc:  # triton ships with CUDA builds of torch; CPU installs may lack it
    triton = None
    tl = None
    _IMPORT_ERROR: str | None = f"triton cannot be imported ({exc})"
else:
    _IMPORT_ERROR = None

BLOCK = 4096  # pixels per program; must stay <= 32767 for the packed counts
NUM_WARPS = 8
_MAX_GRID_Y = 65535  # CUDA limit on the second grid dimension: frames per launch


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``, for tests)."""
    if triton is None:
        return False
    knobs = getattr(triton, "knobs", None)  # Triton >= 3.4; earlier releases read the variable themselves
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")  # the check those releases make


def extra_device_types() -> tuple[str, ...]:
    """Device types the backend accepts beyond CUDA: the CPU, under the interpreter only."""
    return ("cpu",) if interpreting() else ()


def unavailable_reason() -> str | None:
    """Why the ``triton`` backend cannot run here, or ``None``."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    if not interpreting() and not torch.cuda.is_available():
        return "no CUDA device is available to torch (set TRITON_INTERPRET=1 to run the kernel on the CPU)"
    return None


def _count_kernel(
    frames_ptr,  # uint8 (N, P, 3) RGB, frame stride frame_stride
    labels_ptr,  # uint8 (L, P), frame stride label_stride (0: one map for every frame)
    hit_ptr,  # uint8 (S**3,) table: Doppler cell; unused by the chroma rule
    value_ptr,  # float32 (S**3,) table: value of each cell
    counts_ptr,  # int32 (N, blocks, 2, 8): pixels, Doppler pixels
    sums_ptr,  # int32 (chroma) or float32 (table) (N, blocks, 2, 8): values, squared values
    num_pixels,
    frame_stride,
    label_stride,
    floor,  # chroma rule: threshold; table: candidates have chroma > floor
    BLOCK: tl.constexpr,
    NUM_LABELS: tl.constexpr,
    TABLE: tl.constexpr,
    EVERY: tl.constexpr,  # table whose Doppler cells include greys: every labelled pixel is a candidate
    BITS: tl.constexpr,
):
    block = tl.program_id(0)
    frame = tl.program_id(1).to(tl.int64)
    offsets = block * BLOCK + tl.arange(0, BLOCK)
    lab = tl.load(labels_ptr + frame * label_stride + offsets, mask=offsets < num_pixels, other=0)
    slots = tl.arange(0, 8)  # one per label value
    pixels = tl.full([8], 0, tl.int32)
    hits = tl.full([8], 0, tl.int32)
    if TABLE:
        total = tl.full([8], 0, tl.float32)
        squares = tl.full([8], 0, tl.float32)
    else:
        total = tl.full([8], 0, tl.int32)
        squares = tl.full([8], 0, tl.int32)
    if tl.reduce(lab, 0, tl.standard._elementwise_max) > 0:  # blocks without labels read only their labels
        labelled = lab != 0
        pixel = frames_ptr + frame * frame_stride + offsets * 3
        r = tl.load(pixel, mask=labelled, other=0)
        g = tl.load(pixel + 1, mask=labelled, other=0)
        b = tl.load(pixel + 2, mask=labelled, other=0)
        chroma = tl.maximum(tl.maximum(r, g), b) - tl.minimum(tl.minimum(r, g), b)  # uint8, no wrap
        if TABLE:
            candidate = labelled if EVERY else labelled & (chroma > floor)
            shift = 8 - BITS
            index = (
                ((r >> shift).to(tl.int32) << (2 * BITS))
                | ((g >> shift).to(tl.int32) << BITS)
                | (b >> shift).to(tl.int32)
            )
            hit = tl.load(hit_ptr + index, mask=candidate, other=0) != 0
            value = tl.load(value_ptr + index, mask=hit, other=0.0)
        else:
            hit = labelled & (chroma > floor)
            value = tl.where(hit, chroma.to(tl.int32), 0)
        for k in tl.static_range(1, NUM_LABELS):
            is_k = lab == k
            value_k = tl.where(is_k, value, 0)
            here = slots == k
            pixels = tl.where(here, tl.reduce(is_k.to(tl.int32), 0, tl.standard._sum_combine), pixels)
            hits = tl.where(here, tl.reduce((is_k & hit).to(tl.int32), 0, tl.standard._sum_combine), hits)
            total = tl.where(here, tl.reduce(value_k, 0, tl.standard._sum_combine), total)
            squares = tl.where(here, tl.reduce(value_k * value_k, 0, tl.standard._sum_combine), squares)
    out = (frame * tl.num_programs(0) + block) * 16 + slots
    tl.store(counts_ptr + out, pixels)
    tl.store(counts_ptr + out + 8, hits)
    tl.store(sums_ptr + out, total)
    tl.store(sums_ptr + out + 8, squares)


@cache
def _kernel(interpret: bool) -> Callable:
    """The decorated kernel, once per mode: ``triton.jit`` reads ``TRITON_INTERPRET`` when it decorates."""
    return triton.jit(_count_kernel)


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # lut -> {device: (hit, value)}


def _device_table(lut: DopplerLUT, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    per_device = _TABLES.setdefault(lut, {})
    if device not in per_device:
        if lut.kind == "table":
            hit = torch.from_numpy(lut.is_doppler.reshape(-1).view("uint8")).to(device)
            value = torch.from_numpy(lut.value.reshape(-1)).to(device)
        else:
            hit = torch.zeros(1, dtype=torch.uint8, device=device)
            value = torch.zeros(1, dtype=torch.float32, device=device)
        per_device[device] = (hit, value)
    return per_device[device]


def launch(frames: torch.Tensor, labels: torch.Tensor, lut: DopplerLUT, num_labels: int | None = None) -> torch.Tensor:
    """Enqueue the count on the current stream; no host synchronisation when ``num_labels`` is given.

    Args:
        frames: ``(N, H, W, 3) uint8`` RGB on the device (on the CPU under the interpreter).
        labels: ``(N, H, W)`` or ``(1, H, W)`` uint8 on the same device.
        lut: the colour rule.
        num_labels: largest label value + 1 (computed from ``labels`` when omitted, which synchronises).

    Returns:
        ``(N, 4, 8) float64`` on the device: pixels, Doppler pixels, and the raw sums of values and
        squared values (for the chroma rule in integer chroma units: see :func:`finish`).
    """
    frames = frames.contiguous()
    labels = labels.contiguous()
    n, h, w, _ = frames.shape
    if num_labels is None:
        num_labels = int(labels.max()) + 1 if labels.numel() else 1
    num_pixels = h * w
    blocks = max(1, triton.cdiv(num_pixels, BLOCK))
    table = lut.kind == "table"
    counts = torch.empty((n, blocks, 2, MAX_LABELS), dtype=torch.int32, device=frames.device)
    sums = torch.empty_like(counts, dtype=torch.float32 if table else torch.int32)
    if table:
        floor, every = min(max(lut.min_chroma - 1, 0), 255), lut.min_chroma <= 0
    else:
        floor, every = lut.threshold, False
    hit, value = _device_table(lut, frames.device)
    kernel = _kernel(interpreting())
    label_stride = num_pixels if labels.shape[0] > 1 else 0
    for start in range(0, n, _MAX_GRID_Y):
        stop = min(n, start + _MAX_GRID_Y)
        kernel[(blocks, stop - start)](
            frames[start:stop], labels[start:stop] if label_stride else labels, hit, value,
            counts[start:stop], sums[start:stop], num_pixels, num_pixels * 3, label_stride, floor,
            BLOCK=BLOCK, NUM_LABELS=max(1, min(num_labels, MAX_LABELS)), TABLE=table, EVERY=every,
            BITS=lut.bits, num_warps=NUM_WARPS,
        )  # fmt: skip
    # float64 holds every integer sum exactly (< 2**53)
    return torch.cat([counts.sum(dim=1, dtype=torch.float64), sums.sum(dim=1, dtype=torch.float64)], dim=1)


def finish(totals: np.ndarray, lut: DopplerLUT, backend: str, device: str) -> FrameCounts:
    """:class:`FrameCounts` from :func:`launch`'s ``(N, 4, 8)`` totals, copied to the host."""
    scale = 1.0 if lut.kind == "table" else 1.0 / 255.0  # chroma sums are integer chroma until here
    return FrameCounts(
        pixels=totals[:, 0].astype(np.int64),
        doppler=totals[:, 1].astype(np.int64),
        value_sum=totals[:, 2] * scale,
        value_sq_sum=totals[:, 3] * (scale * scale),
        backend=backend,
        device=device,
    )


def count_triton(
    frames: torch.Tensor, labels: torch.Tensor, lut: DopplerLUT, mask_frames: Sequence[int] = ()
) -> FrameCounts:
    """Count with the Triton kernel. Arguments as :func:`cuda_ops.reference.count_reference`."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    if frames.device.type != "cuda" and not interpreting():
        raise RuntimeError(f"the triton backend needs CUDA tensors, got {frames.device}")
    with torch.cuda.device(frames.device) if frames.device.type == "cuda" else nullcontext():
        totals = launch(frames, labels, lut).cpu().numpy()
    counts = finish(totals, lut, "triton", str(frames.device))
    return replace(counts, masks=doppler_masks(frames, labels, lut, mask_frames))

"""Count a whole clip held in host memory: crop to the labels, batch, and overlap uploads with counting.

On a CUDA device the frames travel through two pinned host buffers: while the GPU counts batch i,
batch i + 1 is copied into the other pinned buffer by the CPU and uploaded on a second stream
(``non_blocking`` copies from pinned memory are asynchronous DMA; from pageable memory they are
not). Only the bounding box of the non-zero labels is uploaded: pixels outside it are never counted.
Results stay on the device until the last batch, so the host waits once.

Elsewhere (the CPU, or CPU tensors under ``TRITON_INTERPRET=1``) the same bookkeeping runs with
plain buffers and no streams, which is what the tests exercise without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import torch

from . import triton_kernel
from .dispatch import check_inputs, count_doppler, target_device
from .lut import DopplerLUT
from .reference import doppler_masks
from .types import FrameCounts

# Bytes of cropped frames per batch on a GPU: enough frames per launch to fill the device (a 1080p
# frame is ~2 µs of HBM traffic, less than a launch: 128 MB is ~20 full 1080p frames, ~100 cropped
# to a 20 % box), small enough that pinning two host buffers stays cheap and two device buffers fit
# beside a model. The upload (PCIe, ~25-50 GB/s pinned), not the kernel, bounds this path.
GPU_BATCH_BYTES = 128 * 1024 * 1024
CPU_BATCH_FRAMES = 64


def labels_bbox(labels: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` bounding box of the non-zero labels of ``(N|1, H, W)`` maps; ``None`` if none."""
    rows = np.flatnonzero(labels.any(axis=(0, 2)))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(labels[:, rows[0] : rows[-1] + 1].any(axis=(0, 1)))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def count_clip(
    frames: np.ndarray,
    labels: np.ndarray,
    lut: DopplerLUT,
    *,
    backend: str = "auto",
    device: str | torch.device | None = None,
    batch_frames: int | None = None,
    mask_frames: Sequence[int] = (),
) -> FrameCounts:
    """Count a clip batch by batch, uploading only the labels' bounding box.

    Args:
        frames: ``(N, H, W, 3) uint8`` RGB in host memory (numpy).
        labels: ``(N, H, W)`` or ``(1, H, W)`` uint8 label map.
        lut: the colour rule.
        backend: as :func:`cuda_ops.count_doppler`; on CUDA, ``"auto"`` and ``"triton"`` use the
            streamed path, other names count batch by batch through :func:`count_doppler`.
        device: ``"cuda"`` (or ``"cuda:k"``) for the GPU pipeline; default and ``"cpu"``: the CPU.
        batch_frames: frames per batch (default: ~``GPU_BATCH_BYTES`` on a GPU, 64 on the CPU).
        mask_frames: frames whose full-size ``(H, W) bool`` Doppler mask is returned.

    Returns:
        :class:`FrameCounts` identical to one :func:`count_doppler` call over the whole clip.
    """
    frames, labels = np.asarray(frames), np.asarray(labels)
    check_inputs(torch.from_numpy(frames), torch.from_numpy(labels), mask_frames)  # zero-copy views
    target = target_device(torch.empty(0), device)  # host frames: the CPU unless a device is named
    box = labels_bbox(labels)
    if box is None or frames.shape[0] == 0:  # nothing labelled: nothing to read
        counts = count_doppler(frames[:, :1, :1], labels[:, :1, :1], lut, backend=backend, device=target)
    else:
        y0, y1, x0, x1 = box
        crop_frames, crop_labels = frames[:, y0:y1, x0:x1], labels[:, y0:y1, x0:x1]  # views, no copy yet
        counts = _count_cropped(crop_frames, crop_labels, lut, backend, target, batch_frames)
    masks = doppler_masks(torch.from_numpy(frames), torch.from_numpy(labels), lut, mask_frames)
    return replace(counts, masks=masks)


def _count_cropped(frames, labels, lut, backend, target, batch_frames) -> FrameCounts:
    """The streamed GPU path where it applies, else :func:`count_doppler` batch by batch."""
    streamed = target.type == "cuda" or (triton_kernel.interpreting() and backend == "triton")
    if not (streamed and backend in ("auto", "triton") and triton_kernel.unavailable_reason() is None):
        return _batches(frames, labels, lut, backend, target, batch_frames or CPU_BATCH_FRAMES)
    try:
        return _stream(frames, labels, lut, target, batch_frames)
    except Exception as exc:  # an automatic choice degrades and says so; an explicit one raises
        if backend != "auto":
            raise
        counts = _batches(frames, labels, lut, "reference", target, batch_frames or CPU_BATCH_FRAMES)
        return replace(counts, fallback=f"triton skipped ({type(exc).__name__}: {exc})")


def _batches(frames, labels, lut, backend, target, size) -> FrameCounts:
    parts = []
    for start in range(0, len(frames), size):
        batch_labels = labels[start : start + size] if len(labels) > 1 else labels
        parts.append(count_doppler(frames[start : start + size], batch_labels, lut, backend=backend, device=target))
    return FrameCounts.concat(parts)


class _Buffers:
    """Two host staging buffers and two device buffers for one kind of array, plus their events."""

    def __init__(self, shape: tuple[int, ...], device: torch.device, cuda: bool):
        pin = cuda  # pinned host memory needs a CUDA build and device
        self.host = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin) for _ in range(2)]
        self.device = [torch.empty(shape, dtype=torch.uint8, device=device) for _ in range(2)]
        self.uploaded = [torch.cuda.Event() if cuda else None for _ in range(2)]

    def upload(self, slot: int, array: np.ndarray, copy_stream) -> torch.Tensor:
        """Stage ``array`` in host buffer ``slot`` and start its upload; returns the device view."""
        count = len(array)
        if self.uploaded[slot] is not None:
            self.uploaded[slot].synchronize()  # the previous upload from this host buffer has finished
        self.host[slot][:count].copy_(torch.from_numpy(array))  # gathers the cropped view, on every core
        with torch.cuda.stream(copy_stream) if copy_stream is not None else nullcontext():
            self.device[slot][:count].copy_(self.host[slot][:count], non_blocking=copy_stream is not None)
            if self.uploaded[slot] is not None:
                self.uploaded[slot].record(copy_stream)
        return self.device[slot][:count]


def _stream(frames: np.ndarray, labels: np.ndarray, lut: DopplerLUT, target: torch.device, batch_frames):
    """Double-buffered upload and count; ``frames``/``labels`` are the cropped views."""
    cuda = target.type == "cuda"
    n, h, w, _ = frames.shape
    size = batch_frames or max(1, min(n, GPU_BATCH_BYTES // max(1, h * w * 3)))
    size = min(size, n)
    num_labels = int(labels.max()) + 1
    with torch.cuda.device(target) if cuda else nullcontext():
        copy_stream = torch.cuda.Stream() if cuda else None
        counted = [torch.cuda.Event() if cuda else None for _ in range(2)]  # device buffer free again
        frame_buffers = _Buffers((size, h, w, 3), target, cuda)
        shared = labels.shape[0] == 1
        label_buffers = None if shared else _Buffers((size, h, w), target, cuda)
        shared_labels = torch.from_numpy(np.ascontiguousarray(labels)).to(target) if shared else None
        results = []
        for batch, start in enumerate(range(0, n, size)):
            slot = batch % 2
            stop = min(n, start + size)
            if copy_stream is not None and counted[slot] is not None:
                copy_stream.wait_event(counted[slot])  # batch - 2 no longer reads this device buffer
            batch_frames_dev = frame_buffers.upload(slot, frames[start:stop], copy_stream)
            batch_labels = shared_labels if shared else label_buffers.upload(slot, labels[start:stop], copy_stream)
            if cuda:
                torch.cuda.current_stream().wait_event(frame_buffers.uploaded[slot])
                if not shared:
                    torch.cuda.current_stream().wait_event(label_buffers.uploaded[slot])
            results.append(triton_kernel.launch(batch_frames_dev, batch_labels, lut, num_labels))
            if cuda:
                counted[slot].record()
        totals = torch.cat(results).cpu().numpy()  # the one wait for the device
    return triton_kernel.finish(totals, lut, "triton", str(target))

"""Plain torch reference: the definition of a correct count. Readable first, fast never.

Every other backend is tested against this file: counts must match it bit for bit, sums within
``SUM_RTOL`` (``cuda_ops.types``) of the sum of |value|. It runs on any torch device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .lut import DopplerLUT
from .types import MAX_LABELS, FrameCounts

# Frames per step: bounds the (chunk, H, W) temporaries to a few hundred MB at 1080p.
_CHUNK = 8


def classify(frames: torch.Tensor, lut: DopplerLUT) -> tuple[torch.Tensor, torch.Tensor]:
    """Classify pixels. ``frames (N, H, W, 3) uint8 RGB`` -> ``(hit (N, H, W) bool, value (N, H, W) float32)``.

    ``value`` is zero where ``hit`` is false.
    """
    if lut.kind == "chroma":
        chroma = frames.amax(dim=-1) - frames.amin(dim=-1)  # (N, H, W) uint8, max >= min so no wrap
        hit = chroma > lut.threshold
        value = torch.where(hit, chroma.to(torch.float32) / 255.0, 0.0)
        return hit, value
    shift = 8 - lut.bits
    rgb = (frames >> shift).to(torch.int64)  # (N, H, W, 3) in 0..S-1
    index = (rgb[..., 0] << (2 * lut.bits)) | (rgb[..., 1] << lut.bits) | rgb[..., 2]
    table_hit = torch.from_numpy(lut.is_doppler.reshape(-1)).to(frames.device)
    table_value = torch.from_numpy(lut.value.reshape(-1)).to(frames.device)
    return table_hit[index], table_value[index]


def doppler_masks(
    frames: torch.Tensor, labels: torch.Tensor, lut: DopplerLUT, mask_frames: Sequence[int]
) -> dict[int, np.ndarray]:
    """``{frame index: (H, W) bool}`` Doppler pixels with a non-zero label, for the frames asked for.

    Every backend returns masks through this function. Frames on the GPU are classified there by
    :func:`classify`; frames in host memory by :func:`doppler_mask`, the same rule in numpy (several times faster
    than the torch rule on the CPU; tests hold the two equal).
    """
    masks: dict[int, np.ndarray] = {}
    for index in sorted(set(mask_frames)):
        frame_labels = labels[index if labels.shape[0] > 1 else 0]  # (H, W)
        if frames.device.type == "cpu":
            masks[index] = doppler_mask(frames[index].numpy(), frame_labels.numpy(), lut)
            continue
        hit, _ = classify(frames[index : index + 1], lut)  # (1, H, W)
        masks[index] = (hit[0] & (frame_labels != 0)).cpu().numpy()
    return masks


def doppler_mask(frame: np.ndarray, labels: np.ndarray, lut: DopplerLUT) -> np.ndarray:
    """``(H, W) bool``: the labelled pixels of one ``(H, W, 3) uint8 RGB`` frame that ``lut`` calls Doppler.

    For a frame counted earlier whose mask was not asked for then. The rule of :func:`classify`, written
    with numpy on the host (a graded still waits for it): tests hold it equal to :func:`classify`'s.
    """
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    if lut.kind == "chroma":
        chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # uint8, max >= min
        hit = chroma > lut.threshold
    else:
        shift = 8 - lut.bits
        index = (r.astype(np.intp) >> shift) << (2 * lut.bits)
        index |= (g.astype(np.intp) >> shift) << lut.bits
        index |= b.astype(np.intp) >> shift
        hit = lut.is_doppler.reshape(-1)[index]
    return hit & (labels != 0)


def count_reference(
    frames: torch.Tensor,
    labels: torch.Tensor,
    lut: DopplerLUT,
    mask_frames: Sequence[int] = (),
) -> FrameCounts:
    """Count Doppler pixels per frame and label.

    Args:
        frames: ``(N, H, W, 3) uint8`` RGB, on any device.
        labels: ``(N, H, W)`` or ``(1, H, W)`` uint8 label map, values < ``MAX_LABELS``, same device.
        lut: the colour rule.
        mask_frames: frame indices whose Doppler mask (hits with a non-zero label) is returned.
    """
    n = frames.shape[0]
    pixels = torch.zeros(n, MAX_LABELS, dtype=torch.int64)
    doppler = torch.zeros_like(pixels)
    value_sum = torch.zeros(n, MAX_LABELS, dtype=torch.float64)
    value_sq_sum = torch.zeros_like(value_sum)
    wanted = set(mask_frames)
    masks: dict[int, np.ndarray] = {}
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        hit, value = classify(frames[start:stop], lut)  # (c, H, W)
        chunk_labels = labels[start:stop] if labels.shape[0] > 1 else labels  # (c|1, H, W)
        for label in range(1, MAX_LABELS):
            inside = (chunk_labels == label).expand_as(hit)  # (c, H, W)
            counted = inside & hit
            counted_value = torch.where(counted, value, 0.0).to(torch.float64)
            pixels[start:stop, label] = inside.sum(dim=(1, 2)).cpu()
            doppler[start:stop, label] = counted.sum(dim=(1, 2)).cpu()
            value_sum[start:stop, label] = counted_value.sum(dim=(1, 2)).cpu()
            value_sq_sum[start:stop, label] = (counted_value * counted_value).sum(dim=(1, 2)).cpu()
        for index in sorted(i for i in wanted if start <= i < stop):
            frame_labels = chunk_labels[index - start] if chunk_labels.shape[0] > 1 else chunk_labels[0]
            masks[index] = (hit[index - start] & (frame_labels != 0)).cpu().numpy()
    return FrameCounts(
        pixels=pixels.numpy(),
        doppler=doppler.numpy(),
        value_sum=value_sum.numpy(),
        value_sq_sum=value_sq_sum.numpy(),
        backend="reference",
        device=str(frames.device),
        masks=masks,
    )

"""Whole-clip counting: bounding-box crop, batching, double buffering, and joining batch results."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from cuda_ops import CountInputError, FrameCounts, chroma_lut, count_clip, count_doppler, labels_bbox, stream
from tests.cuda_ops.conftest import LUTS, assert_same_counts, random_inputs

reference = partial(count_doppler, backend="reference")


def _roi_labels(n: int, h: int, w: int) -> np.ndarray:
    """A Doppler box (3) holding a tendon (1): the box is smaller than the frame."""
    labels = np.zeros((n, h, w), np.uint8)
    labels[:, 5 : h - 4, 7 : w - 3] = 3
    labels[:, 8 : h - 8, 9 : w - 6] = 1
    return labels


@pytest.mark.parametrize(
    ("labels", "box"),
    [
        (np.zeros((2, 4, 5), np.uint8), None),
        (np.pad(np.ones((1, 1, 1), np.uint8), ((0, 0), (2, 1), (3, 1))), (2, 3, 3, 4)),
        (np.stack([np.eye(4, 6, dtype=np.uint8), np.zeros((4, 6), np.uint8)]), (0, 4, 0, 4)),
    ],
    ids=["empty", "one-pixel", "union-over-frames"],
)
def test_labels_bbox(labels, box):
    assert labels_bbox(labels) == box


@pytest.mark.parametrize("batch_frames", [1, 3, None], ids=["batch-1", "batch-3", "batch-default"])
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
def test_clip_on_cpu_equals_one_call(rng, batch_frames, shared_labels):
    frames, _ = random_inputs(rng, 7, 30, 41, True)
    labels = _roi_labels(1 if shared_labels else 7, 30, 41)
    if not shared_labels:
        labels[4] = 0  # a frame without any label
    lut = LUTS["table-signed"](rng)
    got = count_clip(frames, labels, lut, batch_frames=batch_frames, mask_frames=[2, 6])
    ref = reference(frames, labels, lut, mask_frames=[2, 6])
    assert_same_counts(got, ref, np.abs(ref.value_sum) + 1.0)
    assert got.masks[2].shape == (30, 41) and got.backend == "cpu"


def test_clip_without_labels_counts_nothing(rng):
    frames, _ = random_inputs(rng, 3, 8, 9, True)
    counts = count_clip(frames, np.zeros((1, 8, 9), np.uint8), chroma_lut())
    assert counts.pixels.shape == (3, 8) and counts.pixels.sum() == 0


def test_clip_rejects_bad_input():
    with pytest.raises(CountInputError, match="labels must be"):
        count_clip(np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 4, 5), np.uint8), chroma_lut())


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
def test_streamed_path_under_the_interpreter(rng, monkeypatch, shared_labels):
    """The double-buffered path (slots, staging copies, per-batch launches) with CPU tensors."""
    frames, _ = random_inputs(rng, 5, 20, 24, True)
    labels = _roi_labels(1 if shared_labels else 5, 20, 24)
    uploads = []
    upload = stream._Buffers.upload

    def spy(self, slot, array, copy_stream):
        uploads.append((slot, array.shape))
        return upload(self, slot, array, copy_stream)

    monkeypatch.setattr(stream._Buffers, "upload", spy)
    got = count_clip(frames, labels, chroma_lut(), backend="triton", batch_frames=2, mask_frames=[4])
    assert got.backend == "triton"
    frame_uploads = [(slot, shape) for slot, shape in uploads if len(shape) == 4]
    assert frame_uploads == [(0, (2, 11, 14, 3)), (1, (2, 11, 14, 3)), (0, (1, 11, 14, 3))]  # the box only
    assert len(uploads) == (3 if shared_labels else 6)
    assert_same_counts(got, reference(frames, labels, chroma_lut(), mask_frames=[4]))


def test_concat_shifts_frames_and_joins_names():
    def part(n, backend, masks, fallback=None):
        ones = np.ones((n, 8), np.int64)
        return FrameCounts(ones, ones, ones * 0.5, ones * 0.25, backend, "cpu", masks, fallback)

    mask = np.ones((2, 2), bool)
    joined = FrameCounts.concat([part(2, "cpu", {1: mask}), part(3, "reference", {0: mask}, "cpu skipped (x)")])
    assert joined.num_frames == 5 and joined.pixels.shape == (5, 8)
    assert set(joined.masks) == {1, 2}
    assert joined.backend == "cpu+reference" and joined.device == "cpu" and joined.fallback == "cpu skipped (x)"
    with pytest.raises(ValueError, match="at least one"):
        FrameCounts.concat([])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
def test_clip_streams_through_the_gpu(rng, shared_labels):
    frames, _ = random_inputs(rng, 37, 120, 160, True)
    labels = _roi_labels(1 if shared_labels else 37, 120, 160)
    got = count_clip(frames, labels, chroma_lut(), device="cuda", batch_frames=8, mask_frames=[36])
    assert got.backend == "triton" and got.device.startswith("cuda")
    assert_same_counts(got, reference(frames, labels, chroma_lut(), mask_frames=[36]))

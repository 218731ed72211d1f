"""The Triton kernel against the torch reference: in the CPU interpreter on tiny inputs, on a GPU when present.

The interpreter runs ~1.6 s per 480x640 frame, so its inputs stay a few hundred pixels; one case spans
two program blocks. The kernel is decorated on first use, after the ``interpreter`` fixture set
``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from cuda_ops import BackendUnavailable, chroma_lut, count_doppler, triton_kernel
from tests.cuda_ops.conftest import LUTS, abs_sums, assert_same_counts, random_inputs

reference = partial(count_doppler, backend="reference")
triton = partial(count_doppler, backend="triton")

TINY = {"1x1": (1, 1, 1), "2-frames-5x7": (2, 5, 7), "3-frames-16x16": (3, 16, 16), "1-frame-9x13": (1, 9, 13)}


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("lut_name", list(LUTS))
@pytest.mark.parametrize("shape", list(TINY.values()), ids=list(TINY))
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
def test_interpreted_kernel_matches_reference(rng, lut_name, shape, shared_labels):
    frames, labels = random_inputs(rng, *shape, shared_labels)
    lut = LUTS[lut_name](rng)
    got = triton(frames, labels, lut, mask_frames=[shape[0] - 1])
    ref = reference(frames, labels, lut, mask_frames=[shape[0] - 1])
    assert_same_counts(got, ref, abs_sums(frames, labels, lut, reference))
    assert got.backend == "triton" and got.device == "cpu"


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("label", range(1, 8))
def test_interpreted_every_label(rng, label):
    """One label per case, so the compile-time label count ranges over 2..8."""
    frames, _ = random_inputs(rng, 2, 6, 6, True)
    labels = np.zeros((1, 6, 6), np.uint8)
    labels[0, 1:5, 1:5] = label
    assert_same_counts(triton(frames, labels, chroma_lut()), reference(frames, labels, chroma_lut()))


@pytest.mark.usefixtures("interpreter")
def test_interpreted_two_blocks_and_unlabelled_block(rng):
    """70x70 = 4900 pixels: two programs per frame, the second without labels in one frame."""
    assert triton_kernel.BLOCK < 70 * 70
    frames, labels = random_inputs(rng, 2, 70, 70, False)
    labels[1, 60:] = 0  # pixels 4200.. of frame 1: block 1 (4096..) only partly labelled
    labels[0, 59:] = 0  # frame 0: block 1 holds no label at all
    lut = LUTS["table-signed"](rng)
    assert_same_counts(
        triton(frames, labels, lut), reference(frames, labels, lut), abs_sums(frames, labels, lut, reference)
    )


def test_triton_on_cpu_without_interpreter_is_refused(monkeypatch, rng):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    frames, labels = random_inputs(rng, 1, 4, 4, True)
    with pytest.raises(BackendUnavailable, match="does not run on cpu"):
        triton(frames, labels, chroma_lut())
    if not torch.cuda.is_available():
        assert "no CUDA device" in (triton_kernel.unavailable_reason() or "triton")


def test_auto_never_picks_triton_on_the_cpu(interpreter, rng):
    frames, labels = random_inputs(rng, 1, 4, 4, True)
    assert count_doppler(frames, labels, chroma_lut()).backend == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("lut_name", list(LUTS))
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 31, 17), (20, 480, 640), (1000, 8, 8)], ids=str)
def test_gpu_kernel_matches_reference(rng, lut_name, shape):
    frames, labels = random_inputs(rng, *shape, shared_labels=shape[0] % 2 == 0)
    lut = LUTS[lut_name](rng)
    got = count_doppler(frames, labels, lut, device="cuda", mask_frames=[0])
    ref = reference(frames, labels, lut, mask_frames=[0])
    assert got.backend == "triton" and got.device.startswith("cuda")
    assert_same_counts(got, ref, abs_sums(frames, labels, lut, reference))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_launch_without_sync_matches(rng):
    frames, labels = random_inputs(rng, 4, 33, 47, False)
    device_frames, device_labels = torch.from_numpy(frames).cuda(), torch.from_numpy(labels).cuda()
    totals = triton_kernel.launch(device_frames, device_labels, chroma_lut(), num_labels=8)
    counts = triton_kernel.finish(totals.cpu().numpy(), chroma_lut(), "triton", "cuda")
    assert_same_counts(counts, reference(frames, labels, chroma_lut()))

"""The torch reference against answers computed by hand, and the dispatch rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cuda_ops
from cuda_ops import BackendUnavailable, CountInputError, chroma_as_table, chroma_lut, count_doppler, table_lut
from cuda_ops.reference import classify


def _numpy_counts(frames: np.ndarray, labels: np.ndarray, threshold: int):
    """An independent int16 numpy implementation of the chroma rule."""
    f = frames.astype(np.int16)
    chroma = f.max(axis=-1) - f.min(axis=-1)
    hit = chroma > threshold
    labels = np.broadcast_to(labels, hit.shape)
    pixels = np.stack([(labels == k).sum(axis=(1, 2)) for k in range(8)], axis=1)
    doppler = np.stack([((labels == k) & hit).sum(axis=(1, 2)) for k in range(8)], axis=1)
    values = np.where(hit, chroma / 255.0, 0.0)
    sums = np.stack([np.where(labels == k, values, 0).sum(axis=(1, 2)) for k in range(8)], axis=1)
    pixels[:, 0] = doppler[:, 0] = 0
    sums[:, 0] = 0
    return pixels, doppler, sums


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (1, 7, 13), (3, 31, 17), (2, 64, 80), (40, 8, 8)],
    ids=["1x1", "odd-7x13", "3-frames-31x17", "2-frames-64x80", "40-frames-8x8"],
)
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
def test_reference_matches_numpy(rng, shape, shared_labels):
    n, h, w = shape
    frames = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    frames[: n // 2] = frames[: n // 2, :, :, :1]  # half the frames grey: chroma 0
    labels = rng.integers(0, 8, size=(1 if shared_labels else n, h, w), dtype=np.uint8)
    counts = count_doppler(frames, labels, chroma_lut(40), backend="reference")
    pixels, doppler, sums = _numpy_counts(frames, labels, 40)
    np.testing.assert_array_equal(counts.pixels, pixels)
    np.testing.assert_array_equal(counts.doppler, doppler)
    np.testing.assert_allclose(counts.value_sum, sums, rtol=1e-6, atol=1e-6)
    assert counts.backend == "reference" and counts.device == "cpu"


def test_threshold_is_strict():
    frames = np.array([[[[140, 100, 100], [141, 100, 100], [100, 100, 100]]]], dtype=np.uint8)  # chroma 40, 41, 0
    labels = np.ones((1, 1, 3), dtype=np.uint8)
    counts = count_doppler(frames, labels, chroma_lut(40))
    assert counts.doppler[0, 1] == 1
    assert counts.value_sum[0, 1] == pytest.approx(41 / 255)
    assert counts.value_sq_sum[0, 1] == pytest.approx((41 / 255) ** 2)


def test_masks_cover_labelled_hits_only():
    frames = np.zeros((2, 2, 3, 3), dtype=np.uint8)
    frames[:, :, :, 0] = 255  # every pixel pure red
    labels = np.array([[[1, 0, 3], [0, 2, 0]]], dtype=np.uint8)
    counts = count_doppler(frames, labels, chroma_lut(), mask_frames=[1])
    assert set(counts.masks) == {1}
    np.testing.assert_array_equal(counts.masks[1], labels[0] != 0)


def test_table_lut_matches_chroma_on_cell_centres():
    lut = chroma_as_table(40, bits=6)
    centres = (np.arange(64, dtype=np.int32) << 2) + 2
    r, g, b = np.meshgrid(centres, centres, centres, indexing="ij")
    frames = np.stack([r, g, b], axis=-1).reshape(1, 512, 512, 3).astype(np.uint8)
    labels = np.ones((1, 512, 512), dtype=np.uint8)
    by_table = count_doppler(frames, labels, lut)
    by_rule = count_doppler(frames, labels, chroma_lut(40))
    assert by_table.doppler[0, 1] == by_rule.doppler[0, 1]


def test_table_lut_values():
    size = 4
    hit = np.zeros((size,) * 3, dtype=bool)
    value = np.zeros((size,) * 3, dtype=np.float32)
    hit[3, 0, 0], value[3, 0, 0] = True, 0.75  # bright red cell
    value[0, 0, 3] = 9.0  # a value on a non-Doppler cell is ignored
    frames = np.array([[[[255, 10, 10], [10, 10, 255], [200, 0, 0]]]], dtype=np.uint8)
    counts = count_doppler(frames, np.ones((1, 1, 3), np.uint8), table_lut(hit, value))
    assert counts.doppler[0, 1] == 2  # 255>>6 == 3 and 200>>6 == 3
    assert counts.value_sum[0, 1] == pytest.approx(1.5)


def test_torch_input_and_device_argument():
    frames = torch.zeros((1, 4, 4, 3), dtype=torch.uint8)
    frames[0, 0, 0] = torch.tensor([0, 0, 255])
    counts = count_doppler(frames, torch.ones((1, 4, 4), dtype=torch.uint8), chroma_lut(), device="cpu")
    assert counts.doppler[0, 1] == 1


@pytest.mark.parametrize(
    ("frames", "labels", "message"),
    [
        (np.zeros((1, 4, 4, 3), np.float32), np.zeros((1, 4, 4), np.uint8), "uint8 RGB"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.uint8), "uint8 RGB"),
        (np.zeros((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 5), np.uint8), "labels must be"),
        (np.zeros((2, 4, 4, 3), np.uint8), np.zeros((3, 4, 4), np.uint8), "1 or 2 frames"),
        (np.zeros((1, 4, 4, 3), np.uint8), np.full((1, 4, 4), 8, np.uint8), "below 8"),
    ],
    ids=["float-frames", "3d-frames", "label-size", "label-frames", "label-value"],
)
def test_bad_inputs_raise_named_error(frames, labels, message):
    with pytest.raises(CountInputError, match=message):
        count_doppler(frames, labels, chroma_lut())


def test_mask_frame_out_of_range():
    with pytest.raises(CountInputError, match="out of range"):
        count_doppler(np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.uint8), chroma_lut(), mask_frames=[1])


def test_unknown_backend_names_known_ones():
    with pytest.raises(BackendUnavailable, match=r"known backends: .*reference"):
        count_doppler(np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.uint8), chroma_lut(), backend="nope")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_gpu_is_an_error():
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        count_doppler(np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.uint8), chroma_lut(), device="cuda")


def test_auto_falls_back_and_says_so(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("kernel failed")

    reference = cuda_ops.BACKENDS["reference"]
    monkeypatch.setitem(cuda_ops.BACKENDS, "cpu", cuda_ops.dispatch.Backend("cpu", ("cpu",), lambda: None, broken))
    counts = count_doppler(np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.uint8), chroma_lut())
    assert counts.backend == reference.name
    assert "cpu skipped (RuntimeError: kernel failed)" in counts.fallback
    with pytest.raises(RuntimeError, match="kernel failed"):  # explicit choice: no fallback
        count_doppler(np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.uint8), chroma_lut(), backend="cpu")


@pytest.mark.parametrize("threshold", [-1, 255, 1.5], ids=["negative", "too-high", "float"])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        chroma_lut(threshold)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_reference_on_gpu_matches_cpu(rng):
    frames = rng.integers(0, 256, size=(5, 33, 47, 3), dtype=np.uint8)
    labels = rng.integers(0, 8, size=(1, 33, 47), dtype=np.uint8)
    cpu = count_doppler(frames, labels, chroma_lut(), backend="reference")
    gpu = count_doppler(frames, labels, chroma_lut(), backend="reference", device="cuda")
    np.testing.assert_array_equal(cpu.doppler, gpu.doppler)
    np.testing.assert_array_equal(cpu.pixels, gpu.pixels)


@pytest.mark.parametrize("rule", ["chroma", "table"])
def test_one_frame_mask_equals_the_counting_masks(rng, rule):
    """``doppler_mask`` (numpy, one frame on the host) gives the masks that counting returns."""
    frames = rng.integers(0, 256, size=(1, 37, 53, 3), dtype=np.uint8)
    frames[0, :10] = frames[0, :10, :, :1]  # grey rows: chroma 0
    labels = rng.integers(0, 4, size=(1, 37, 53), dtype=np.uint8)
    if rule == "chroma":
        lut = chroma_lut(40)
    else:
        hit = rng.random((16, 16, 16)) < 0.5
        lut = table_lut(hit, np.where(hit, 0.5, 0.0).astype(np.float32))
    counts = count_doppler(frames, labels, lut, backend="reference", mask_frames=[0])
    mask = cuda_ops.doppler_mask(frames[0], labels[0], lut)
    assert mask.dtype == bool and mask.any()
    np.testing.assert_array_equal(mask, counts.masks[0])
    hit, _ = classify(torch.from_numpy(frames), lut)  # the torch rule, as the GPU classifies
    np.testing.assert_array_equal(mask, hit[0].numpy() & (labels[0] != 0))
    assert int(mask.sum()) == int(np.asarray(counts.doppler).sum())

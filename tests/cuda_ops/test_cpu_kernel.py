"""The fused CPU kernel against the torch reference: bit-identical counts, sums within SUM_RTOL."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from cuda_ops import chroma_lut, count_doppler, cpu_kernel, jit, label_runs
from tests.cuda_ops.conftest import LUTS, abs_sums, assert_same_counts, random_inputs

reference = partial(count_doppler, backend="reference")
cpu = partial(count_doppler, backend="cpu")

SHAPES = {
    "1x1": (1, 1, 1),
    "1-frame-odd-7x13": (1, 7, 13),
    "3-frames-31x17": (3, 31, 17),
    "2-frames-64x80": (2, 64, 80),
    "1-frame-120x161": (1, 120, 161),
    "1000-frames-8x8": (1000, 8, 8),
}


@pytest.mark.parametrize("lut_name", list(LUTS))
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("shared_labels", [True, False], ids=["labels-1", "labels-N"])
@pytest.mark.parametrize("serial_pixels", [cpu_kernel.SERIAL_PIXELS, 0], ids=["small-serial", "parallel"])
def test_cpu_matches_reference(rng, lut_name, shape, shared_labels, serial_pixels, monkeypatch):
    """Small inputs run on the calling thread; with the limit at 0 the same inputs take the parallel path."""
    monkeypatch.setattr(cpu_kernel, "SERIAL_PIXELS", serial_pixels)
    frames, labels = random_inputs(rng, *shape, shared_labels)
    lut = LUTS[lut_name](rng)
    mask_frames = [0, shape[0] - 1]
    got = cpu(frames, labels, lut, mask_frames=mask_frames)
    ref = reference(frames, labels, lut, mask_frames=mask_frames)
    assert_same_counts(got, ref, abs_sums(frames, labels, lut, reference))
    assert got.backend == "cpu" and got.device == "cpu" and got.fallback is None


@pytest.mark.parametrize("label", range(1, 8))
def test_every_label_alone(rng, label):
    frames, _ = random_inputs(rng, 2, 9, 23, True)
    labels = np.zeros((1, 9, 23), np.uint8)
    labels[0, 2:7, 3:20] = label
    labels[0, 4, 0] = labels[0, 4, -1] = label  # span reaching both edges of a row
    got, ref = cpu(frames, labels, chroma_lut()), reference(frames, labels, chroma_lut())
    assert_same_counts(got, ref)
    assert got.pixels[0, label] == 5 * 17 + 2 and got.pixels.sum() == 2 * (5 * 17 + 2)


def test_label_spans_with_gaps_and_empty_rows(rng):
    """Rows: empty, one pixel, two islands with zeros between, labels only beyond 64-byte blocks."""
    frames, _ = random_inputs(rng, 3, 6, 300, True)
    labels = np.zeros((3, 6, 300), np.uint8)
    labels[:, 1, 150] = 2
    labels[:, 2, 5:40] = 1
    labels[:, 2, 200:260] = 3
    labels[:, 3, 130:131] = 7
    labels[:, 4, 299] = 4
    labels[1] = 0  # a frame without labels
    for lut in (LUTS["table-signed"](rng), chroma_lut()):
        assert_same_counts(cpu(frames, labels, lut), reference(frames, labels, lut))


@pytest.mark.parametrize("lut_name", ["chroma40", "table-signed"])
@pytest.mark.parametrize("width", [63, 64, 65, 127, 128, 129, 200])
def test_rows_that_follow_in_memory(rng, lut_name, width):
    """Spans that run on into the next row are classified 64 pixels at a time with lines requested
    ahead; every width around the block size, runs of several labels, and frames in several items."""
    frames = rng.integers(0, 256, size=(5, 40, width, 3), dtype=np.uint8)
    frames[:2] = frames[:2, :, :, :1]  # grey frames: no Doppler
    frames[3, :, 60:70] = (250, 5, 5)  # colour across the first block boundary
    labels = np.full((1, 40, width), 3, np.uint8)  # every row labelled edge to edge
    labels[0, 10:30, width // 4 : width - width // 4] = 1
    labels[0, 30:33, : width // 2] = 2
    labels[0, 35, width // 3 :] = 0  # a span ending early: the next one starts a new stream
    lut = LUTS[lut_name](rng)
    assert_same_counts(
        cpu(frames, labels, lut), reference(frames, labels, lut), abs_sums(frames, labels, lut, reference)
    )


def test_borrow_is_a_slice_without_a_reference():
    @jit.numba.njit
    def fill_and_sum(a, start, stop):
        view = jit.borrow(a, start, stop)
        for i in range(view.shape[0]):
            view[i] = view[i] + 1  # writes reach the parent
        return view.shape[0], view.sum()

    a = np.arange(10, dtype=np.int32)
    assert fill_and_sum(a, 2, 7) == (5, 2 + 3 + 4 + 5 + 6 + 5)
    assert a.tolist() == [0, 1, 3, 4, 5, 6, 7, 7, 8, 9]
    assert fill_and_sum(a, 4, 4) == (0, 0)
    assert fill_and_sum(np.zeros(3, np.uint8), np.uint8(0), np.int64(3))[0] == 3


@pytest.mark.parametrize("lut_name", ["chroma40", "table-signed"])
def test_rows_at_and_beyond_the_run_limit(rng, lut_name):
    """Rows of up to ``_MAX_RUNS`` runs are summed run by run; longer ones label by label."""
    limit = label_runs.MAX_RUNS
    frames, _ = random_inputs(rng, 2, 3, 4 * (limit + 2), True)
    labels = np.zeros((1, 3, 4 * (limit + 2)), np.uint8)
    labels[0, 0, : 4 * limit] = np.repeat(np.arange(limit) % 3 + 1, 4)  # exactly the limit
    labels[0, 1, : 4 * (limit + 1)] = np.repeat(np.arange(limit + 1) % 3 + 1, 4)  # one run too many
    labels[0, 2, 5:9] = 7
    spans, _, _, num_runs = label_runs.row_runs(labels)
    assert num_runs[0].tolist() == [limit, -1, 1] and spans[0, 2].tolist() == [5, 9]
    lut = LUTS[lut_name](rng)
    assert_same_counts(
        cpu(frames, labels, lut), reference(frames, labels, lut), abs_sums(frames, labels, lut, reference)
    )


def test_long_rows_do_not_overflow():
    """Spans longer than one int32 segment of chroma² sums: 40000 pixels of chroma 255 in a row."""
    frames = np.zeros((1, 2, 40000, 3), np.uint8)
    frames[..., 0] = 255
    labels = np.ones((1, 2, 40000), np.uint8)
    got = cpu(frames, labels, chroma_lut())
    assert got.doppler[0, 1] == 80000
    assert got.value_sum[0, 1] == pytest.approx(80000.0, rel=1e-12)
    assert got.value_sq_sum[0, 1] == pytest.approx(80000.0, rel=1e-12)


def test_value_sums_are_exact_for_the_chroma_rule(rng):
    frames, labels = random_inputs(rng, 2, 50, 70, True)
    got = cpu(frames, labels, chroma_lut(40))
    f = frames.astype(np.int64)
    chroma = f.max(axis=-1) - f.min(axis=-1)  # (N, H, W)
    counted = (chroma > 40) & (labels == 3)
    assert got.value_sum[1, 3] == pytest.approx((chroma[1] * counted[1]).sum() / 255, rel=1e-15)
    assert got.value_sq_sum[1, 3] == pytest.approx((chroma[1] ** 2 * counted[1]).sum() / 255**2, rel=1e-15)


def test_auto_picks_cpu_on_the_cpu(rng):
    frames, labels = random_inputs(rng, 2, 5, 5, True)
    counts = count_doppler(frames, labels, chroma_lut())
    assert counts.backend == "cpu" and counts.fallback is None


def test_torch_views_and_empty_inputs(rng):
    frames, labels = random_inputs(rng, 4, 10, 12, True)
    strided = torch.from_numpy(frames)[::2]  # not contiguous
    assert_same_counts(cpu(strided, labels, chroma_lut()), reference(strided, labels, chroma_lut()))
    empty = cpu(np.zeros((0, 4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.uint8), chroma_lut())
    assert empty.pixels.shape == (0, 8)
    zero_width = cpu(np.zeros((2, 4, 0, 3), np.uint8), np.zeros((1, 4, 0), np.uint8), chroma_lut())
    assert zero_width.pixels.shape == (2, 8) and zero_width.pixels.sum() == 0


def test_warm_up_reports_first_call_seconds():
    seconds = cpu_kernel.warm_up()
    assert set(seconds) == {"chroma", "table"} and all(s >= 0 for s in seconds.values())


def test_cache_falls_back_when_no_cache_location(monkeypatch):
    """numba refuses ``cache=True`` without a writable cache folder; the kernel then compiles uncached."""
    calls = []

    def fake_njit(**options):
        calls.append(options["cache"])
        if options["cache"]:
            raise RuntimeError("cannot cache function: no locator available")
        return lambda fn: fn

    monkeypatch.setattr(jit, "njit", fake_njit)
    decorated = jit.cached_njit()(lambda: 42)
    assert decorated() == 42 and calls == [True, False]


def test_a_small_count_leaves_the_thread_count_as_it_was(rng):
    import numba

    before = numba.get_num_threads()
    frames, labels = random_inputs(rng, 1, 30, 40, True)
    cpu(frames, labels, chroma_lut())
    assert numba.get_num_threads() == before

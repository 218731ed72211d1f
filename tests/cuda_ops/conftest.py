"""Shared helpers for the counting backends: the comparison every backend must pass, LUTs, inputs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from cuda_ops import SUM_RTOL, DopplerLUT, FrameCounts, chroma_as_table, chroma_lut, table_lut, triton_kernel

requires_triton = pytest.mark.skipif(triton_kernel.triton is None, reason="triton is not installed")


def assert_same_counts(got: FrameCounts, ref: FrameCounts, abs_sum: np.ndarray | None = None) -> None:
    """Counts bit for bit; sums within ``SUM_RTOL`` of the sum of |value| (``abs_sum``, default the reference's)."""
    np.testing.assert_array_equal(got.pixels, ref.pixels)
    np.testing.assert_array_equal(got.doppler, ref.doppler)
    scale = np.abs(ref.value_sum) if abs_sum is None else abs_sum
    np.testing.assert_array_less(np.abs(got.value_sum - ref.value_sum), SUM_RTOL * scale + 1e-12)
    np.testing.assert_array_less(np.abs(got.value_sq_sum - ref.value_sq_sum), SUM_RTOL * ref.value_sq_sum + 1e-12)
    assert got.pixels.dtype == np.int64 and got.value_sum.dtype == np.float64
    assert set(got.masks) == set(ref.masks)
    for index, mask in ref.masks.items():
        np.testing.assert_array_equal(got.masks[index], mask)


def signed_table(rng: np.random.Generator, bits: int = 5) -> DopplerLUT:
    """A colour-flow-like table: saturated cells are Doppler, with signed values (velocity fractions)."""
    base = chroma_as_table(60, bits)
    value = rng.uniform(-1.0, 1.0, size=base.is_doppler.shape).astype(np.float32)
    return table_lut(base.is_doppler, value)


def grey_table(bits: int = 3) -> DopplerLUT:
    """A table whose Doppler cells include greys (power Doppler ramps can): min chroma 0, no prefilter."""
    size = 1 << bits
    hit = np.zeros((size,) * 3, dtype=bool)
    hit[size - 1, size - 1, size - 1] = True  # white-ish greys count
    hit[size - 1, 0, :2] = True
    value = np.linspace(0.1, 2.0, size**3, dtype=np.float32).reshape(hit.shape)
    return table_lut(hit, value)


def empty_table() -> DopplerLUT:
    """No Doppler colour at all (min chroma 256)."""
    return table_lut(np.zeros((4, 4, 4), bool), np.ones((4, 4, 4), np.float32))


LUTS = {
    "chroma40": lambda rng: chroma_lut(40),
    "chroma0": lambda rng: chroma_lut(0),
    "table-chroma": lambda rng: chroma_as_table(40, 6),
    "table-signed": signed_table,
    "table-greys": lambda rng: grey_table(),
    "table-empty": lambda rng: empty_table(),
}


def abs_sums(frames: np.ndarray, labels: np.ndarray, lut: DopplerLUT, count) -> np.ndarray:
    """Per frame and label, the sum of |value| over counted pixels (the scale of the sum tolerance)."""
    if lut.kind == "chroma":
        return np.abs(count(frames, labels, lut).value_sum)
    absolute = table_lut(lut.is_doppler, np.abs(lut.value))
    return count(frames, labels, absolute).value_sum


def random_inputs(
    rng: np.random.Generator, n: int, h: int, w: int, shared_labels: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Random RGB frames (half grey, a few saturated) and labels 0..7."""
    frames = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    frames[: n // 2] = frames[: n // 2, :, :, :1]  # grey: chroma 0
    frames[n // 2 :, ::3, ::2] = (250, 5, 5)  # saturated pixels on the other half
    labels = rng.integers(0, 8, size=(1 if shared_labels else n, h, w), dtype=np.uint8)
    return frames, labels


@pytest.fixture
def interpreter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run Triton kernels in the CPU interpreter; the kernel is decorated on first use in this mode."""
    if triton_kernel.triton is None:
        pytest.skip("triton is not installed")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert triton_kernel.interpreting()
    yield

"""One model call for the frames of concurrent callers: each gets its own rows back, as unbatched."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from models import TendonSegmenter
from models.batching import BatchedForward


def _concurrently(*calls):
    """Run the zero-argument ``calls`` in threads started together; their results in order."""
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i, call):
        try:
            results[i] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return results


def test_two_requests_share_one_model_call_and_get_their_own_masks(segmenter: TendonSegmenter, rng):
    """Frames of two uploads of different sizes go through one forward pass; each upload gets the masks and
    probabilities a segmenter of its own gives."""
    first = rng.integers(0, 256, (3, 80, 96, 3), dtype=np.uint8)
    second = rng.integers(0, 256, (4, 120, 90, 3), dtype=np.uint8)
    area = (8, 4, 90, 76)
    alone = [segmenter.predict(first, area=area), segmenter.predict(second)]
    alone_probs = [segmenter.probabilities(first, area=area), segmenter.probabilities(second)]
    # The batching thread waits (up to 10 s) until the 7 frames of both are there, then makes one call.
    twin = segmenter.batched(max_rows=7, gather_s=10.0)
    try:
        together = _concurrently(lambda: twin.predict(first, area=area), lambda: twin.predict(second))
        assert (twin.batcher.calls, twin.batcher.rows) == (1, 7)
        probs = _concurrently(lambda: twin.probabilities(first, area=area), lambda: twin.probabilities(second))
        assert (twin.batcher.calls, twin.batcher.rows) == (2, 14)
    finally:
        twin.close()
    for mine, expected in zip(together, alone, strict=True):
        assert mine.shape == expected.shape and np.array_equal(mine, expected)
    for mine, expected in zip(probs, alone_probs, strict=True):
        np.testing.assert_allclose(mine, expected, atol=1e-5)
    assert segmenter.batcher is None  # the original still calls the network itself


def test_inputs_that_do_not_fit_together_run_apart():
    shapes = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(x.shape))
        return x * 2

    batcher = BatchedForward(forward, max_rows=4, gather_s=0.5)
    try:
        a, b, c = torch.ones(3, 2, 4, 4), torch.ones(2, 2, 4, 4), torch.ones(1, 2, 8, 8)
        outs = _concurrently(lambda: batcher(a), lambda: batcher(b), lambda: batcher(c))
    finally:
        batcher.close()
    # 3 + 2 rows exceed max_rows, and an 8x8 input never joins 4x4 ones: three calls, each caller's own rows
    assert sorted(shapes) == [(1, 2, 8, 8), (2, 2, 4, 4), (3, 2, 4, 4)]
    assert [tuple(o.shape) for o in outs] == [(3, 2, 4, 4), (2, 2, 4, 4), (1, 2, 8, 8)]
    assert all(torch.equal(o, 2 * x) for o, x in zip(outs, (a, b, c), strict=True))


def test_an_error_reaches_every_caller_of_that_call():
    def forward(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("out of memory")

    batcher = BatchedForward(forward, max_rows=2, gather_s=10.0)
    with pytest.raises(RuntimeError, match="out of memory"):
        _concurrently(lambda: batcher(torch.ones(1, 1)), lambda: batcher(torch.ones(1, 1)))
    batcher.close()
    assert batcher.calls == 0
    with pytest.raises(RuntimeError, match="closed"):
        batcher(torch.ones(1, 1))


@pytest.mark.parametrize(("max_rows", "gather_s"), [(0, 0.0), (1, -1.0)], ids=["no-rows", "negative-wait"])
def test_bad_settings_are_refused(max_rows, gather_s):
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        BatchedForward(lambda x: x, max_rows=max_rows, gather_s=gather_s)

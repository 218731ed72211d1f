"""The scan: frames sampled with their indices, the best frames kept with their counted masks, a frozen result."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import replace

import numpy as np
import pytest

from app.pipeline.decode import Clip, SourceInfo
from app.pipeline.decode.base import sampling_step as frame_step
from app.pipeline.measure.labels import LABEL_TENDON, RegionRuns
from app.pipeline.measure.scan import (
    CANDIDATES,
    Counter,
    ScanParams,
    batch_frames,
    classified,
    frame_again,
    scan_clip,
)
from app.pipeline.timing import Timer
from tests.conftest import grey_background

H, W = 60, 80


def _clip(rng, blobs: list[int]) -> Clip:
    """Speckle frames with ``blobs[i]`` 2x2 Doppler blobs inside the region (rows 20-40, cols 10-70)."""
    frames = np.stack([grey_background(H, W, rng) for _ in blobs])
    for i, n in enumerate(blobs):
        for k in range(n):
            frames[i, 24:26, 12 + 4 * k : 14 + 4 * k] = (220, 40, 30)
    return Clip.in_memory(frames, "clip", SourceInfo(format="array", colour="RGB"), fps=10.0)


def _region() -> np.ndarray:
    mask = np.zeros((1, H, W), bool)
    mask[0, 20:40, 10:70] = True
    return mask


def _scan(clip: Clip, step: int = 1):
    region = _region()
    counter = Counter("auto", "cpu")
    return scan_clip(clip, lambda frames, area: region, counter, ScanParams(2.0, 4, step), Timer())


@pytest.mark.parametrize(
    ("n", "every", "cap", "step"), [(10, 1, None, 1), (10, 3, None, 3), (100, 1, 10, 10), (7, 2, 3, 3)]
)
def test_frame_step(n, every, cap, step):
    assert frame_step(n, every, cap) == step


def test_batch_frames_stay_between_one_and_64():
    assert batch_frames(1, 1) == 64 and batch_frames(10_000, 10_000) == 1


def test_sampled_frames_keep_their_indices(rng):
    scan = _scan(_clip(rng, [0, 1, 2, 3, 4, 5, 6]), step=3)
    assert scan.indices.tolist() == [0, 3, 6]
    assert scan.counts.doppler[:, LABEL_TENDON].tolist() == [0, 12, 24]


def test_the_best_frames_are_kept_with_their_counted_pixels(rng):
    blobs = [1, 5, 0, 3, 7, 2, 6, 4]
    scan = _scan(_clip(rng, blobs))
    best = sorted(range(len(blobs)), key=lambda i: -blobs[i])[:CANDIDATES]
    assert sorted(scan.candidates) == sorted(best)
    for index, candidate in scan.candidates.items():
        assert candidate.doppler is None  # classified only once chosen
        doppler = classified(candidate, scan.setup.rule).doppler
        assert doppler.sum() == scan.counts.doppler[index, LABEL_TENDON] == 4 * blobs[index]
        assert candidate.roi.sum() == 20 * 60 and not (candidate.band & candidate.roi).any()


def test_a_frame_read_again_matches_the_kept_one(rng):
    clip = _clip(rng, [2, 4, 1, 3, 0, 5])
    scan = _scan(clip)
    kept = scan.candidates[5]
    again = frame_again(clip, 5, lambda frames, area: _region(), scan.setup)
    np.testing.assert_array_equal(again.frame, kept.frame)
    rule = scan.setup.rule
    np.testing.assert_array_equal(classified(again, rule).doppler, classified(kept, rule).doppler)


def test_a_region_finder_of_the_wrong_shape_is_an_error(rng):
    counter = Counter("auto", "cpu")
    with pytest.raises(RuntimeError, match="region finder returned masks"):
        scan_clip(
            _clip(rng, [1, 2]), lambda frames, area: np.ones((1, 5, 5), bool), counter, ScanParams(2.0, 4), Timer()
        )


def test_runs_of_frames_are_counted_as_the_same_regions_frame_by_frame(rng):
    """A finder that says where the picture changed (runs, each region labelled and counted once) gets the
    counts, kept frames and observed batches that the same regions given frame by frame get."""
    blobs = [1, 5, 0, 3, 7, 2, 6, 4, 2]
    clip = _clip(rng, blobs)
    upper, lower = _region(), np.zeros((1, H, W), bool)
    lower[0, 22:45, 5:60] = True
    own = np.stack([upper[0], lower[0], upper[0]])  # three frames, each its own region (a model unsure of them)
    runs = RegionRuns((3, 6, 9), (upper, own, lower))
    seen: dict[str, list] = {"runs": [], "stacked": []}
    scans = {
        name: scan_clip(clip, finder, Counter("auto", "cpu"), ScanParams(2.0, 4), Timer(), observer=seen[name].append)
        for name, finder in (("runs", lambda f, a: runs), ("stacked", lambda f, a: runs.stacked()))
    }
    a, b = scans["runs"], scans["stacked"]
    assert runs.stacked().shape == (9, H, W)
    for field in ("pixels", "doppler", "value_sum"):
        np.testing.assert_array_equal(getattr(a.counts, field), getattr(b.counts, field))
    assert a.counts.doppler[:, LABEL_TENDON].tolist() == [4 * n for n in blobs]  # every blob lies in both regions
    assert a.counts.pixels[3, LABEL_TENDON] == 20 * 60 and a.counts.pixels[4, LABEL_TENDON] == 23 * 55
    assert sorted(a.candidates) == sorted(b.candidates)
    for index, kept in a.candidates.items():
        other = b.candidates[index]
        for part in ("roi", "band", "labels", "doppler"):
            np.testing.assert_array_equal(getattr(kept, part), getattr(other, part))
    for x, y in zip(seen["runs"], seen["stacked"], strict=True):
        for part in ("roi", "band", "doppler"):
            np.testing.assert_array_equal(np.broadcast_to(getattr(x, part), getattr(y, part).shape), getattr(y, part))


class _Restartable:
    """A region finder that can be restarted (as the tendon model's): records its calls and their threads."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int, int, int], str]] = []
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1

    def __call__(self, frames: np.ndarray, area) -> np.ndarray:
        self.calls.append((tuple(area), threading.current_thread().name))
        mask = np.zeros((1, H, W), bool)
        x0, y0, x1, y1 = area
        mask[0, max(y0, 20) : min(y1, 40), max(x0, 10) : min(x1, 70)] = True  # the region, within the area
        return mask


def test_the_first_batch_is_outlined_on_its_own_thread_while_the_screen_is_read(rng):
    clip = _clip(rng, [1, 2, 3])
    finder = _Restartable()
    scan = scan_clip(clip, finder, Counter("auto", "cpu"), ScanParams(2.0, 4), Timer())
    plain = _scan(clip)
    area = scan.setup.screen.image_area
    assert finder.calls == [(area, "neovasc-regions-ahead")] and finder.restarts == 0
    np.testing.assert_array_equal(scan.counts.doppler, plain.counts.doppler)
    np.testing.assert_array_equal(scan.counts.pixels, plain.counts.pixels)


def test_regions_found_ahead_on_another_area_are_found_again(rng, monkeypatch):
    import app.pipeline.measure.scan as scan_module

    real = scan_module.find_screen

    def picture_then_wider(frames, chroma_threshold, regions=(), on_picture=None):
        on_picture((0, 0, 20, 30))  # the picture as first found; the screen's area ends up elsewhere
        return real(frames, chroma_threshold, regions)

    monkeypatch.setattr(scan_module, "find_screen", picture_then_wider)
    clip = _clip(rng, [1, 2, 3])
    finder = _Restartable()
    scan = scan_clip(clip, finder, Counter("auto", "cpu"), ScanParams(2.0, 4), Timer())
    area = scan.setup.screen.image_area
    assert area != (0, 0, 20, 30)
    assert finder.restarts == 1
    assert [call[0] for call in finder.calls] == [(0, 0, 20, 30), area]
    assert finder.calls[1][1] == threading.current_thread().name  # found again by the scan itself
    np.testing.assert_array_equal(scan.counts.doppler, _scan(clip).counts.doppler)


def test_an_error_of_the_region_step_run_ahead_reaches_the_caller(rng):
    class Broken(_Restartable):
        def __call__(self, frames, area):
            raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        scan_clip(_clip(rng, [1]), Broken(), Counter("auto", "cpu"), ScanParams(2.0, 4), Timer())


def test_a_failed_screen_leaves_no_region_step_running(rng, monkeypatch):
    import app.pipeline.measure.scan as scan_module

    started, finished = threading.Event(), threading.Event()

    class Slow(_Restartable):
        def __call__(self, frames, area):
            started.set()
            time.sleep(0.2)
            finished.set()
            return super().__call__(frames, area)

    def picture_then_fail(frames, chroma_threshold, regions=(), on_picture=None):
        on_picture((0, 0, W, H))
        started.wait(5)
        raise ValueError("screen failed")

    monkeypatch.setattr(scan_module, "find_screen", picture_then_fail)
    with pytest.raises(ValueError, match="screen failed"):
        scan_clip(_clip(rng, [1]), Slow(), Counter("auto", "cpu"), ScanParams(2.0, 4), Timer())
    assert finished.is_set()  # the analysis ended only after the region step it had started


def test_an_observed_scan_keeps_nothing_frame_sized_past_its_batch(rng, monkeypatch):
    """With an observer memory stays bounded however long the clip: the observer gets each batch's counted
    pixels, but no (H, W) array outlives its batch; what the scan keeps of a frame is its counts."""
    import app.pipeline.measure.scan as scan_module

    monkeypatch.setattr(scan_module, "BATCH_BYTES", 4 * H * W * 3)  # four frames a batch: many batches
    blobs = [1, 5, 0, 3, 7, 2, 6, 4] * 5
    handed: list[weakref.ref] = []  # every pixel array handed to the observer with the earlier batches
    sizes: list[int] = []

    def observe(batch) -> None:
        assert all(ref() is None for ref in handed), "an earlier batch's pixels are still held"
        assert batch.doppler.shape == (batch.indices.size, H, W)
        np.testing.assert_array_equal(batch.doppler.sum(axis=(1, 2)), batch.counts.doppler[:, LABEL_TENDON])
        handed.extend(weakref.ref(pixels) for pixels in (batch.doppler, *batch.counts.masks.values()))
        sizes.append(batch.indices.size)

    clip, region = _clip(rng, blobs), _region()
    scan = scan_clip(clip, lambda frames, area: region, Counter("auto", "cpu"), ScanParams(2.0, 4), Timer(), observe)
    assert sizes == [4] * 10 and not scan.counts.masks
    assert scan.counts.doppler[:, LABEL_TENDON].tolist() == [4 * n for n in blobs]
    for candidate in scan.candidates.values():  # the kept frames keep the pixels the observer saw, as their own
        assert candidate.doppler is not None and candidate.doppler.base is None
        again = classified(replace(candidate, doppler=None), scan.setup.rule)
        np.testing.assert_array_equal(candidate.doppler, again.doppler)

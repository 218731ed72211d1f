"""The measure step: one pass over a clip's sampled frames, batch by batch, each pixel counted once.

For every batch: the tendon region (the user's, or the model's inside the picture), the label map
(:mod:`.labels`), and one counting call (:class:`Counter`) per run of frames that share a region (a region
finder that knows where the picture changed says so, :class:`~.labels.RegionRuns`; each region is labelled
once). The first batch also fixes the screen, the countable area and the calibration (:class:`Setup`). Only
the best few frames are kept (:class:`Candidate`, with their counted Doppler pixels), and of every frame its
counts, numbers only (an observer is handed each batch's pixels, which go with the batch), so memory does not
grow with the clip's length; decoding runs ahead on a background thread. Frames may be sampled (every
``step``-th) and keep their original indices. The result is a :class:`Scan`: nothing is read back from a
running object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

import cuda_ops
from app.pipeline.cancel import Progress, StopFlag
from app.pipeline.decode import Calibration, Clip
from app.pipeline.decode.base import prefetched
from app.pipeline.geometry import Rect
from app.pipeline.measure.ahead import Ahead
from app.pipeline.measure.colour_rule import ColourRule, colour_rule
from app.pipeline.measure.labels import LABEL_BOX_REST, LABEL_TENDON, Band, RegionFinder, RegionRuns, label_frames
from app.pipeline.screen import Screen, calibrate, calibrate_from_screen, find_screen
from app.pipeline.timing import Timer

BATCH_BYTES = 64 << 20  # pixels decoded and counted per batch
SCREEN_FRAMES = 8  # frames of the first batch that screen parsing looks at
CANDIDATES = 4  # frames kept in memory as candidates for selection
LABELLED_KEPT = 4  # regions shared by runs of frames whose labels are kept (a probe that returns: labelled once)


@dataclass(frozen=True)
class Counter:
    """Where and how pixels are counted: the backend and the device, resolved once per analysis. The colour
    rule is the clip's (``Setup.lut``), chosen on the first batch."""

    backend: str
    device: str

    def count(self, frames: np.ndarray, labels: np.ndarray, lut: cuda_ops.DopplerLUT) -> cuda_ops.FrameCounts:
        """Counts of one host batch with ``lut``: numbers only. On a GPU through ``count_clip``: only the labels'
        bounding box is uploaded, through pinned buffers."""
        if self.device == "cuda":
            return cuda_ops.count_clip(frames, labels, lut, backend=self.backend, device=self.device)
        return cuda_ops.count_doppler(frames, labels, lut, backend=self.backend, device=self.device)


@dataclass(frozen=True, eq=False)
class Setup:
    """What the first batch fixes for the whole clip."""

    screen: Screen
    calibration: Calibration | None
    why_uncalibrated: str | None  # None when calibrated
    band: Band
    countable: np.ndarray  # (H, W) bool: the image area, colour bars excluded
    in_box: np.ndarray  # (H, W) bool: where Doppler is counted (the box, or the image area without one)
    rule: ColourRule  # the colour rule the clip is counted with (docs/grading.md)

    @property
    def lut(self) -> cuda_ops.DopplerLUT:
        return self.rule.lut


@dataclass(frozen=True, eq=False)
class Candidate:
    """A measured frame kept in memory with its regions and its counted Doppler pixels."""

    index: int  # original frame index
    frame: np.ndarray  # (H, W, 3) uint8 RGB
    roi: np.ndarray  # (H, W) bool, the whole tendon (or drawn region)
    band: np.ndarray  # (H, W) bool, the peritendinous band (outside the box too)
    labels: np.ndarray  # (H, W) uint8, the label map it was counted with
    doppler: np.ndarray | None = None  # (H, W) bool, counted Doppler pixels inside the tendon; see classified()


@dataclass(frozen=True, eq=False)
class Batch:
    """One counted batch, handed to an observer (the overlay video) while the clip streams by."""

    indices: np.ndarray  # (B,) original frame indices
    frames: np.ndarray  # (B, H, W, 3) uint8 RGB
    roi: np.ndarray  # (B|1, H, W) bool
    band: np.ndarray  # (B|1, H, W) bool
    doppler: np.ndarray  # (B, H, W) bool, counted Doppler pixels inside the tendon
    counts: cuda_ops.FrameCounts
    fps: float | None  # the clip's frame rate
    in_box: np.ndarray  # (H, W) bool, where Doppler is counted
    picture: Rect | None = None  # the ultrasound picture on the screen (the overlay video blacks out the rest)


Observer = Callable[[Batch], None]


@dataclass(frozen=True, eq=False)
class Scan:
    """Every sampled frame of a clip, counted: ``counts`` row ``i`` is frame ``indices[i]``."""

    setup: Setup
    indices: np.ndarray  # (N,) original frame indices
    counts: cuda_ops.FrameCounts
    candidates: dict[int, Candidate]  # by original index, the frames with the highest colour fraction


def batch_frames(height: int, width: int) -> int:
    """Frames per batch: about 64 MB of pixels, between 1 and 64 frames."""
    return max(1, min(64, BATCH_BYTES // max(1, height * width * 3)))


@dataclass(frozen=True)
class ScanParams:
    """The settings the scan reads (``app.config.Settings`` fields of the same names)."""

    band_mm: float
    band_px: int
    step: int = 1
    drawn: Rect | None = None  # a drawn rectangle: calibrates the measurement when no box is found
    colour_rule: str = "auto"  # NEOVASC_COLOUR_RULE: "auto" (by the source and the screen) or "chroma"
    chroma_threshold: int = cuda_ops.DEFAULT_CHROMA_THRESHOLD  # NEOVASC_CHROMA_THRESHOLD: what reads as colour


def scan_clip(
    clip: Clip,
    regions: RegionFinder,
    counter: Counter,
    params: ScanParams,
    timer: Timer,
    observer: Observer | None = None,
    *,
    stop: StopFlag | None = None,
    progress: Progress | None = None,
) -> Scan:
    """Count every ``params.step``-th frame of ``clip`` inside the regions ``regions`` finds.

    ``stop`` is checked before each batch (its reason is raised: a time limit, a client gone); ``progress``
    is told ``(frames measured, frames to measure)`` after each batch.
    """
    return _Run(clip, regions, counter, params, timer, observer, stop, progress).scan()


class _Run:
    """The bookkeeping of one scan; :func:`scan_clip` returns its outcome as a frozen :class:`Scan`."""

    def __init__(self, clip, regions, counter, params, timer, observer, stop=None, progress=None) -> None:
        self.clip, self.regions, self.counter, self.params = clip, regions, counter, params
        self.timer, self.observer = timer, observer
        self.stop: StopFlag | None = stop
        self.progress: Progress | None = progress
        self.candidates: dict[int, Candidate] = {}
        self.scores: dict[int, float] = {}
        self._labelled: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # id -> a shared region's labels

    def scan(self) -> Scan:
        setup: Setup | None = None
        parts: list[cuda_ops.FrameCounts] = []
        index_parts: list[np.ndarray] = []
        batches = self._batches(batch_frames(self.clip.height, self.clip.width))
        total, done = len(range(0, self.clip.num_frames, self.params.step)), 0
        while True:
            if self.stop is not None and self.stop.reason is not None:
                batches.close()  # stops the decoding thread now, not when the generator is collected
                self.stop.check()
            with self.timer.step("decode"):
                item = next(batches, None)
            if item is None:
                break
            indices, frames = item
            ahead = None
            if setup is None:
                with self.timer.step("screen"):
                    ahead = Ahead(self.regions, frames)
                    try:
                        setup = set_up(self.clip, frames, self.params, ahead.start)
                    except BaseException:
                        ahead.finish()  # no model work goes on after the analysis has failed
                        raise
            with self.timer.step("segment"):  # with regions found ahead: the wait for them after the screen
                runs = self._regions(frames, setup, ahead)
            with self.timer.step("count"):
                counted = setup.rule.counted(frames)
                counts = self._count(counted, runs, setup.lut)
                doppler = None if self.observer is None else _tendon_doppler(counted, runs, setup.lut)
            parts.append(counts)
            index_parts.append(indices)
            with self.timer.step("select"):
                self._keep_candidates(indices, frames, runs, counts, doppler)
            if self.observer is not None and doppler is not None:
                roi, band = (_stacked(runs, part) for part in ("roi", "band"))
                picture = setup.screen.image_area
                self.observer(Batch(indices, frames, roi, band, doppler, counts, self.clip.fps, setup.in_box, picture))
            done += indices.size
            if self.progress is not None:
                self.progress(done, total)
        return Scan(setup, np.concatenate(index_parts), cuda_ops.FrameCounts.concat(parts), self.candidates)

    def _regions(self, frames: np.ndarray, setup: Setup, ahead: Ahead | None = None) -> list[_Labelled]:
        """The runs of the batch's frames with their regions labelled."""
        found = None if ahead is None else ahead.result(setup.screen.image_area)
        if found is None:
            found = self.regions(frames, setup.screen.image_area)
        runs = []
        for first, stop, roi in RegionRuns.of(found, frames.shape[0]).spans():
            if roi.ndim != 3 or roi.shape[1:] != frames.shape[1:3] or roi.shape[0] not in (1, stop - first):
                raise RuntimeError(f"the region finder returned masks of shape {roi.shape} for frames {frames.shape}")
            runs.append(_Labelled(first, stop, roi, *self._labels(roi, setup)))
        return runs

    def _labels(self, roi: np.ndarray, setup: Setup) -> tuple[np.ndarray, np.ndarray]:
        """``(band, labels)`` of ``roi``; a region shared by a run (the same array for a still picture, or for a
        picture the probe came back to) is labelled once."""
        kept = self._labelled.get(id(roi))
        if kept is not None and kept[0] is roi:
            return kept[1], kept[2]
        band, labels = label_frames(roi, setup.band, setup.in_box)
        if roi.shape[0] == 1:
            if len(self._labelled) >= LABELLED_KEPT:
                del self._labelled[next(iter(self._labelled))]  # the oldest
            self._labelled[id(roi)] = (roi, band, labels)
        return band, labels

    def _count(self, counted: np.ndarray, runs: list[_Labelled], lut: cuda_ops.DopplerLUT) -> cuda_ops.FrameCounts:
        """One counting call per run of the batch's ``counted`` frames (``ColourRule.counted``): numbers only, so
        what the scan keeps of every frame stays small whatever the clip's length."""
        parts = [self.counter.count(counted[run.first : run.stop], run.labels, lut) for run in runs]
        return parts[0] if len(parts) == 1 else cuda_ops.FrameCounts.concat(parts)

    def _keep_candidates(
        self, indices, frames, runs: list[_Labelled], counts: cuda_ops.FrameCounts, doppler: np.ndarray | None
    ) -> None:
        """Keep the frames with the highest tendon colour fraction so far (at most ``CANDIDATES``), with their
        counted pixels in the tendon where an observer had ``doppler (B, H, W)`` classified."""
        for run in runs:
            for i in range(run.first, run.stop):
                cf = fraction(counts.doppler[i, LABEL_TENDON], counts.pixels[i, LABEL_TENDON])
                score = -1.0 if cf is None else cf
                if len(self.scores) >= CANDIDATES:
                    worst = min(self.scores, key=self.scores.__getitem__)
                    if score <= self.scores[worst]:
                        continue
                    del self.scores[worst], self.candidates[worst]
                j = i - run.first
                index, frame_labels = int(indices[i]), _at(run.labels, j).copy()
                pixels = None if doppler is None else doppler[i].copy()  # a copy: the batch's array is let go
                self.scores[index] = score
                frame, region, ring = frames[i].copy(), _at(run.roi, j).copy(), _at(run.band, j).copy()
                self.candidates[index] = Candidate(index, frame, region, ring, frame_labels, pixels)

    def _batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(original indices (B,), frames (B, H, W, 3))``, every ``step``-th frame, decoded ahead."""
        clip, step = self.clip, self.params.step
        if step == 1 or not clip.random_access:
            for start, frames in clip.batches(size):
                indices = np.arange(start, start + frames.shape[0])
                chosen = indices % step == 0
                if chosen.any():
                    yield indices[chosen], frames if chosen.all() else frames[chosen]
            return
        wanted = np.arange(0, clip.num_frames, step)
        chunks = [wanted[i : i + size] for i in range(0, wanted.size, size)]
        read = (np.concatenate([clip.read(int(k)) for k in chunk]) for chunk in chunks)
        yield from zip(chunks, prefetched(read, 2), strict=True)  # only the wanted frames are decoded


def set_up(
    clip: Clip, frames: np.ndarray, params: ScanParams, on_picture: Callable[[Rect], None] | None = None
) -> Setup:
    """Screen, countable area, calibration, band width and colour rule, from the first batch ``(B, H, W, 3)``.

    ``params.chroma_threshold`` reads the screen; the clip's own colour rule is chosen from it, the screen and
    the source (:func:`~app.pipeline.measure.colour_rule.colour_rule`). ``on_picture`` is told the picture's
    area as soon as it is found (see :func:`~app.pipeline.screen.find_screen`)."""
    step = max(1, frames.shape[0] // SCREEN_FRAMES)
    looked_at = frames[::step][:SCREEN_FRAMES]
    screen = find_screen(looked_at, params.chroma_threshold, clip.regions, on_picture)
    h, w = clip.height, clip.width
    countable = ~screen.exclude_mask(h, w)
    in_box = screen.box_mask(h, w) & countable if screen.boxes else countable
    rule = colour_rule(screen, clip.source, looked_at, in_box, params.chroma_threshold, params.colour_rule)
    if clip.calibration is not None:
        calibration, why = clip.calibration, None
    else:  # the ultrasound region holding where the measurement happens: the box, a drawn rectangle, the picture
        area = screen.doppler_box or params.drawn or screen.image_area
        calibration, why = calibrate(clip.regions, area)
        if calibration is None:  # no region gives it: the depth scale drawn beside the picture
            picture = screen.image_area if screen.image_area_source != "frame" else None
            calibration, why_not = calibrate_from_screen(frames, picture)
            why = None if calibration is not None else f"{why}, and {why_not}"
    band = Band.for_calibration(calibration, params.band_mm, params.band_px)
    return Setup(screen, calibration, why, band, countable, in_box, rule)


def frame_again(clip: Clip, index: int, regions: RegionFinder, setup: Setup) -> Candidate:
    """Frame ``index`` decoded and outlined again: for a selected frame that was not kept."""
    frame = clip.read(index)
    roi = RegionRuns.of(regions(frame, setup.screen.image_area), 1).stacked()
    band, labels = label_frames(roi, setup.band, setup.in_box)
    return Candidate(index, frame[0], roi[0], band[0], labels[0])


def classified(candidate: Candidate, rule: ColourRule) -> Candidate:
    """``candidate`` with its Doppler pixels inside the tendon. Counts hold numbers only; the pixels of the
    one graded frame are classified here with the same rule, unless an observed batch kept them."""
    if candidate.doppler is not None:
        return candidate
    mask = cuda_ops.doppler_mask(rule.counted(candidate.frame[None])[0], candidate.labels, rule.lut)
    return replace(candidate, doppler=mask & (candidate.labels == LABEL_TENDON))


@dataclass(frozen=True, eq=False)
class _Labelled:
    """Frames ``first .. stop - 1`` of a batch with their region, band and label map, each ``(1|n, H, W)``."""

    first: int
    stop: int
    roi: np.ndarray
    band: np.ndarray
    labels: np.ndarray


def _tendon_doppler(counted: np.ndarray, runs: list[_Labelled], lut: cuda_ops.DopplerLUT) -> np.ndarray:
    """``(B, H, W) bool``: each frame's counted Doppler pixels inside the tendon, for an observer. Classified on
    the host by the counter's rule (:func:`cuda_ops.doppler_mask`) within the tendon's bounding box only: about
    a millisecond a 640x480 frame, where a mask asked of the counter (its torch reference) takes 20 ms or more."""
    doppler = np.zeros(counted.shape[:3], bool)
    for run in runs:
        tendon = run.labels == LABEL_TENDON  # (1|n, H, W)
        rows, cols = np.flatnonzero(tendon.any(axis=(0, 2))), np.flatnonzero(tendon.any(axis=(0, 1)))
        if rows.size == 0:
            continue
        box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        for i in range(run.first, run.stop):
            doppler[i][box] = cuda_ops.doppler_mask(counted[i][box], _at(tendon, i - run.first)[box], lut)
    return doppler


def _stacked(runs: list[_Labelled], part: str) -> np.ndarray:
    """``(B|1, H, W)``: the runs' ``part`` ("roi", "band" or "labels") over the whole batch."""
    return RegionRuns(tuple(r.stop for r in runs), tuple(getattr(r, part) for r in runs)).stacked()


def _at(stack: np.ndarray, i: int) -> np.ndarray:
    """Frame ``i`` of a ``(B|1, ...)`` stack shared by every frame when it has one."""
    return stack[i if stack.shape[0] > 1 else 0]


def fraction(doppler: int, pixels: int) -> float | None:
    return None if pixels == 0 else int(doppler) / int(pixels)


def box_fractions(counts: cuda_ops.FrameCounts) -> list[float | None]:
    """Colour fraction of the whole Doppler box (labels 1-3) per frame."""
    box = slice(LABEL_TENDON, LABEL_BOX_REST + 1)
    return [fraction(d, p) for d, p in zip(counts.doppler[:, box].sum(1), counts.pixels[:, box].sum(1), strict=True)]


def label_fractions(counts: cuda_ops.FrameCounts, label: int) -> list[float | None]:
    """Colour fraction of one label per frame."""
    return [fraction(d, p) for d, p in zip(counts.doppler[:, label], counts.pixels[:, label], strict=True)]

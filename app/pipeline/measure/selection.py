"""Which frame of a clip is graded: flash frames rejected, then the frame with maximal colour fraction.

Clinicians grade the frame with the most Doppler signal inside the tendon — the maximal-colour frame
with an anatomical region gave the best test–retest reliability (ICC 0.95) — after discarding motion
"flash" frames. Flash is the artefact of probe or patient motion at the low pulse repetition
frequencies used for slow flow: for a frame or two, colour floods much of the box regardless of
vessels (Torp-Pedersen & Terslev, "Settings and artefacts relevant in colour/power Doppler ultrasound
in rheumatology", Ann Rheum Dis 2008;67:143–149; docs/references.md#flash).

The rule, on the colour fraction of the whole Doppler box (tendon, band and the rest of the box), since
motion colours tissue everywhere while real flow stays in vessels:

1. **Saturated box**: more than ``FLASH_BOX_FRACTION`` (50 %) of the box coloured.
2. **Spike**: in a clip of at least ``SPIKE_MIN_FRAMES`` frames, a box colour fraction more than
   ``max(SPIKE_K * 1.4826 * MAD, SPIKE_MIN_JUMP)`` above the clip's median — a Hampel identifier (median
   and scaled median absolute deviation, robust to the flashes themselves) with a floor of 10
   percentage points so that the frame-to-frame flicker of a steady clip is never rejected.

The thresholds are this project's choice, not published values; they are named constants so that a
study can report them. A still image is never rejected (there is nothing else to grade), and when
every frame of a clip is flagged the best of them is graded with a warning.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from app.pipeline.measure.labels import LABEL_BAND, LABEL_TENDON
from app.pipeline.measure.scan import Scan, box_fractions, label_fractions
from app.schemas import FrameMeasure

FLASH_BOX_FRACTION = 0.5
SPIKE_MIN_FRAMES = 5
SPIKE_K = 3.0
SPIKE_MIN_JUMP = 0.10
# Doppler pixels a frame must show for a clip whose screen reads as no Doppler to be graded: the smallest vessel
# counted without a pixel size (NEOVASC_MIN_VESSEL_PX's default)
MIN_SHOWN_PX = 5
MAD_TO_SD = 1.4826  # scales the median absolute deviation to a standard deviation for normal data


def flash_frames(box_fractions: Sequence[float | None]) -> list[bool]:
    """Per frame: is it a flash frame? ``box_fractions``: colour fraction of the whole box, None for no box."""
    known = [f for f in box_fractions if f is not None]
    flags = [f is not None and f > FLASH_BOX_FRACTION for f in box_fractions]
    if len(box_fractions) < SPIKE_MIN_FRAMES or len(known) < SPIKE_MIN_FRAMES:
        return flags if len(box_fractions) > 1 else [False] * len(box_fractions)
    median = statistics.median(known)
    mad = statistics.median(abs(f - median) for f in known)
    limit = median + max(SPIKE_K * MAD_TO_SD * mad, SPIKE_MIN_JUMP)
    return [flag or (f is not None and f > limit) for flag, f in zip(flags, box_fractions, strict=True)]


def select_frame(fractions: Sequence[float | None], flash: Sequence[bool]) -> int:
    """The frame with the highest colour fraction among non-flash frames (first on ties).

    Every frame flagged: the best of all. No colour fraction anywhere: frame 0.
    """
    candidates = [i for i, is_flash in enumerate(flash) if not is_flash] or list(range(len(fractions)))
    best, best_cf = candidates[0] if candidates else 0, -1.0
    for index in candidates:
        cf = fractions[index]
        if cf is not None and cf > best_cf:
            best, best_cf = index, cf
    return best


@dataclass(frozen=True)
class ClipStats:
    """Colour fraction over the frames kept (not flash): how many, mean and median (None without any)."""

    analysed: int
    kept: int
    mean: float | None
    median: float | None


def clip_stats(fractions: Sequence[float | None], flash: Sequence[bool]) -> ClipStats:
    kept = [cf for cf, is_flash in zip(fractions, flash, strict=True) if not is_flash]
    values = [cf for cf in kept if cf is not None]
    return ClipStats(
        analysed=len(fractions),
        kept=len(kept),
        mean=statistics.fmean(values) if values else None,
        median=statistics.median(values) if values else None,
    )


@dataclass(frozen=True)
class Selection:
    """The per-frame measures of a scanned clip and the frame chosen for grading."""

    measures: list[FrameMeasure]  # one per measured frame, in clip order
    flash: list[bool]
    position: int  # row of the chosen frame in the scan's counts
    index: int  # its original frame index
    graded: bool = True  # the clip shows Doppler (shows_doppler): else no colour fraction, vessel count or grade


def shows_doppler(scan: Scan) -> bool:
    """Whether the clip shows Doppler: a mode read from its screen, or else (no legend, no box, too little colour
    on the frames the screen was read from) MIN_SHOWN_PX Doppler pixels counted on one of its frames at least.
    A clip without is not graded: a B-mode picture has no colour fraction, and a coloured speck or two on it
    (codec noise) are no flow."""
    if scan.setup.screen.mode != "none":
        return True
    return scan.counts.num_frames > 0 and int(scan.counts.doppler.sum(axis=1).max()) >= MIN_SHOWN_PX


def select(scan: Scan) -> Selection:
    """Flash frames rejected (box colour fraction), then the frame with maximal tendon colour fraction; no colour
    fraction on any frame of a clip that shows no Doppler (:func:`shows_doppler`)."""
    counts = scan.counts
    tendon, band = label_fractions(counts, LABEL_TENDON), label_fractions(counts, LABEL_BAND)
    graded = shows_doppler(scan)
    if not graded:
        tendon = band = [None] * counts.num_frames
    box = box_fractions(counts)
    flash = flash_frames(box)
    measures = [
        FrameMeasure(
            index=int(scan.indices[i]),
            colour_fraction=tendon[i],
            doppler_px=int(counts.doppler[i, LABEL_TENDON]),
            tendon_area_px=int(counts.pixels[i, LABEL_TENDON]),
            flash=flash[i],
            box_colour_fraction=box[i],
            band_colour_fraction=band[i],
        )
        for i in range(counts.num_frames)
    ]
    position = select_frame(tendon, flash)
    return Selection(measures, flash, position, int(scan.indices[position]), graded)

"""Compare two graded studies of one tendon (before / after a treatment such as transarterial embolization).

The contract is ``schema: "neovasc.comparison/1"``: both full Results, the change of every measure
(after minus before), whether the colour-fraction change exceeds its minimal detectable difference,
and warnings where the two studies are not directly comparable. The HTTP route
(``app/api/compare.py``) and the command line call the same :func:`compare`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field

from app import __version__
from app.config import Settings
from app.errors import InvalidRequest, NeovascError, as_neovasc_error
from app.pipeline import AnalyzeOptions, analyze
from app.pipeline.run import Segmenter
from app.schemas import Result, Summary, WarningInfo, _Model
from app.warning_codes import warning

log = logging.getLogger("neovasc")

COMPARISON_SCHEMA = "neovasc.comparison/1"
# Minimal detectable difference of the Doppler surface-area measure (the colour fraction), between
# observers, in percentage points: van der Vlist et al. 2020, "Ultrasound Doppler flow in patients with
# chronic midportion Achilles tendinopathy: is surface area quantification a reliable method?"
# (docs/grading.md). Measured for the manual area measure; the automated one has not been studied.
MDD_PERCENTAGE_POINTS = 8.0
# Differences are rounded to this many decimals to drop binary floating-point noise
# (0.18 - 0.10 = 0.07999999999999999), so exactly 8 pp reads and compares as 8. One pixel of the largest
# frame accepted (4096 x 4096) is 6e-6 pp, far above the rounding step.
DECIMALS = 9

Side = Literal["before", "after"]
Direction = Literal["decreased", "increased", "unchanged"]


class GradeChanges(_Model):
    """Change of every grade, by scale (after - before); null when either study lacks the grade."""

    modified_ohberg: int | None = Field(None, ge=-4, le=4)
    colour_fraction_grade: int | None = Field(None, ge=-3, le=3)


class Change(_Model):
    """After minus before for each measure; null where either study lacks it."""

    colour_fraction_pp: float | None = Field(
        None, ge=-100.0, le=100.0, description="Colour fraction change, (after - before) x 100, percentage points."
    )
    colour_fraction_relative: float | None = Field(
        None,
        ge=-1.0,
        description="(after - before) / before as a fraction (-0.5: halved); null when the before CF is 0 or null.",
    )
    vessel_count: int | None = Field(None, description="Vessel count change.")
    grade: int | None = Field(
        None, description="Headline grade change on `grade_scale`; null when the two studies use different scales."
    )
    grade_scale: str | None = Field(None, description="The scale both headline grades are on; null when they differ.")
    grades: GradeChanges = Field(default_factory=GradeChanges)
    thickness_mm: float | None = Field(None, description="Tendon thickness change, mm; null unless both calibrated.")
    band_colour_fraction_pp: float | None = Field(
        None, ge=-100.0, le=100.0, description="Peritendinous band colour fraction change, percentage points."
    )


class Comparison(_Model):
    """Two studies of one tendon, and what changed between them."""

    schema_: Literal["neovasc.comparison/1"] = Field(COMPARISON_SCHEMA, alias="schema")
    before: Result
    after: Result
    change: Change
    mdd_percentage_points: float = Field(
        MDD_PERCENTAGE_POINTS,
        description=(
            "Minimal detectable difference of the colour fraction (area measure), percentage points: "
            "van der Vlist et al. 2020, inter-observer, manual measure."
        ),
    )
    exceeds_mdd: bool | None = Field(
        None,
        description=(
            "Whether |colour_fraction_pp| exceeds `mdd_percentage_points` (8 pp, van der Vlist et al. 2020); "
            "exactly 8 does not. Null when either colour fraction is null."
        ),
    )
    direction: Direction | None = Field(
        None, description="decreased / increased beyond the MDD, unchanged within it; null when not computable."
    )
    warnings: list[WarningInfo] = Field(
        default_factory=list,
        description="Why the studies may not be directly comparable: different_scales, roi_source_differs, "
        "uncalibrated, different_doppler_mode.",
    )
    version: str

    def to_json(self) -> str:
        """One line of JSON, with the public field names."""
        return self.model_dump_json(by_alias=True)


def compare(before: Result, after: Result) -> Comparison:
    """Compare two graded Results. Raises :class:`InvalidRequest` when either was not graded (``ok: false``)."""
    change = _change(before, after)
    exceeds = None
    direction: Direction | None = None
    if change.colour_fraction_pp is not None:
        exceeds = abs(change.colour_fraction_pp) > MDD_PERCENTAGE_POINTS
        direction = _direction(change.colour_fraction_pp, exceeds)
    return Comparison(
        before=before,
        after=after,
        change=change,
        exceeds_mdd=exceeds,
        direction=direction,
        warnings=_warnings(before, after),
        version=__version__,
    )


def compare_paths(
    before: Path,
    after: Path,
    options_before: AnalyzeOptions,
    options_after: AnalyzeOptions,
    settings: Settings,
    *,
    segmenter: Segmenter | None = None,
) -> Comparison:
    """Grade two files with ``app.pipeline.analyze`` and compare them (the command line's ``compare``).

    Either failing raises its :class:`NeovascError` (same class and code) with the side named first in
    the message, e.g. ``"after: ..."``; the after study is not graded when the before study fails.
    """
    results = {}
    for side, path, options in (("before", before, options_before), ("after", after, options_after)):
        try:
            results[side] = analyze(path, options, segmenter, settings)
        except Exception as exc:
            raise side_error(side, exc) from exc
    return compare(results["before"], results["after"])


def side_error(side: Side, exc: BaseException) -> NeovascError:
    """``exc`` as a :class:`NeovascError` of the same class and code, its message prefixed by ``side``.

    An unexpected exception becomes ``internal_error`` (its own message is not passed on: it could quote
    file content) and is logged with its traceback here, as the problem handler would have done.
    """
    if not isinstance(exc, NeovascError):
        log.error("unexpected %s while grading the %s study", type(exc).__name__, side, exc_info=exc)
    error = as_neovasc_error(exc)
    error.message = f"{side}: {error.message}"
    error.args = (error.message,)
    return error


def _summary(side: Side, result: Result) -> Summary:
    if not result.ok or result.summary is None:
        code = result.error.code if result.error is not None else "no summary"
        raise InvalidRequest(f"{side}: the study was not graded ({code}); only graded Results can be compared")
    return result.summary


def _change(before: Result, after: Result) -> Change:
    first, second = _summary("before", before), _summary("after", after)
    same_scale = first.grade_scale == second.grade_scale
    calibrated = before.calibration is not None and after.calibration is not None
    return Change(
        colour_fraction_pp=_pp(first.colour_fraction, second.colour_fraction),
        colour_fraction_relative=_relative(first.colour_fraction, second.colour_fraction),
        vessel_count=_delta(first.vessel_count, second.vessel_count),
        grade=_delta(first.grade, second.grade) if same_scale else None,
        grade_scale=first.grade_scale if same_scale else None,
        grades=GradeChanges(
            modified_ohberg=_delta(first.grades.modified_ohberg, second.grades.modified_ohberg),
            colour_fraction_grade=_delta(first.grades.colour_fraction_grade, second.grades.colour_fraction_grade),
        ),
        thickness_mm=_delta(first.thickness_mm, second.thickness_mm) if calibrated else None,
        band_colour_fraction_pp=_pp(first.band_colour_fraction, second.band_colour_fraction),
    )


def _delta(before: int | float | None, after: int | float | None) -> int | float | None:
    """after - before (ints stay ints), or None when either is None."""
    if before is None or after is None:
        return None
    difference = after - before
    return difference if isinstance(difference, int) else round(difference, DECIMALS)


def _pp(before: float | None, after: float | None) -> float | None:
    """Change of a fraction (0-1) in percentage points."""
    if before is None or after is None:
        return None
    return round((after - before) * 100.0, DECIMALS)


def _relative(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return round((after - before) / before, DECIMALS)


def _direction(pp: float, exceeds: bool) -> Direction:
    if not exceeds:
        return "unchanged"
    return "decreased" if pp < 0 else "increased"


def _warnings(before: Result, after: Result) -> list[WarningInfo]:
    warnings = []
    first, second = before.summary, after.summary
    if first.grade_scale != second.grade_scale:
        warnings.append(
            warning(
                "different_scales",
                f"headline grades are on different scales (before {first.grade_scale}, after "
                f"{second.grade_scale}): no headline grade change; compare `change.grades` instead",
            )
        )
    if before.roi is not None and after.roi is not None and before.roi.source != after.roi.source:
        warnings.append(
            warning(
                "roi_source_differs",
                f"the region was drawn by different sources (before {before.roi.source}, after "
                f"{after.roi.source}): the colour fractions measure different areas",
            )
        )
    uncalibrated = [side for side, r in (("before", before), ("after", after)) if r.calibration is None]
    if uncalibrated:
        which = "both studies are" if len(uncalibrated) == 2 else f"the {uncalibrated[0]} study is"
        warnings.append(warning("uncalibrated", f"{which} uncalibrated: thickness change not computable"))
    modes = [r.doppler.mode if r.doppler is not None else "none" for r in (before, after)]
    if "none" not in modes and modes[0] != modes[1]:
        warnings.append(
            warning(
                "different_doppler_mode",
                f"Doppler modes differ (before {modes[0]}, after {modes[1]}): power Doppler shows slow "
                "flow that colour flow Doppler misses, so the colour fractions are not directly comparable",
            )
        )
    return warnings

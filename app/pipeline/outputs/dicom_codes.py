"""Coded concepts of neovasc's DICOM measurement report: standard codes where they exist, private ones else.

Standard concepts come from PS3.16 (as bundled in pydicom's code dictionary): LOINC, SNOMED CT, DCM and
UCUM units. Concepts no standard names (colour fraction, the automated grades) use the private coding
scheme :data:`PRIVATE_SCHEME`, which the report declares in its Coding Scheme Identification Sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRIVATE_SCHEME = "99NEOVASC"  # PS3.3 §8.2: designators starting "99" name private, local schemes
# Series Number identifies a series for people and need not be unique in a study (PS3.3 C.7.3.1);
# high numbers sort the derived series after the scanner's own.


@dataclass(frozen=True)
class Concept:
    """A coded concept: code value, coding scheme designator, code meaning (ASCII: any character set)."""

    value: str
    scheme: str
    meaning: str

    def coded(self) -> Any:
        from highdicom.sr import CodedConcept

        return CodedConcept(self.value, self.scheme, self.meaning)


def _private(value: str, meaning: str) -> Concept:
    return Concept(value, PRIVATE_SCHEME, meaning)


# Standard concepts (code values as in pydicom.sr.codedict and PS3.16).
THICKNESS = Concept("59089-3", "LN", "Thickness")
AREA = Concept("42798000", "SCT", "Area")
MAXIMUM = Concept("56851009", "SCT", "Maximum")  # derivation, CID 7464
TENDON = Concept("13024002", "SCT", "Tendon structure")
VASCULARITY = Concept("111372", "DCM", "Vascularity")
ULTRASONOGRAPHY = Concept("16310003", "SCT", "Diagnostic ultrasonography")
SOURCE_FOR_PROCESSING = Concept("121322", "DCM", "Source image for image processing operation")  # CID 7202
# Concepts with no standard code. "Ohberg" is spelt in ASCII so the meaning fits every character set.
TENDON_CF = _private("TENDON_CF", "Tendon colour fraction")
BAND_CF = _private("BAND_CF", "Peritendinous band colour fraction")
VESSELS = _private("VESSELS", "Doppler vessel count")
GRADE = _private("GRADE", "Neovascularity grade")
OHBERG = _private("OHBERG_MOD", "Modified Ohberg grade, automated")
CF_GRADE = _private("CF_GRADE", "Colour fraction grade")
FRAME = _private("SEL_FRAME", "Selected frame number")
FRAMES_ANALYSED = _private("FRAMES_ANALYSED", "Frames analysed")
FRAMES_KEPT = _private("FRAMES_KEPT", "Frames kept after flash rejection")
# The scale of the headline grade, as its measurement method (docs/grading.md).
SCALES = {
    "modified_ohberg": _private("OHBERG_SCALE", "Modified Ohberg scale, automated"),
    "colour_fraction_grade": _private("CF_SCALE", "Colour fraction grade scale"),
}
# UCUM units; curly-brace annotations are unitless counts and scores.
PERCENT = Concept("%", "UCUM", "Percent")
COUNT = Concept("{count}", "UCUM", "count")
FRAMES = Concept("{frames}", "UCUM", "frames")
SCORE = Concept("{score}", "UCUM", "score")
NO_UNITS = Concept("1", "UCUM", "no units")
MM = Concept("mm", "UCUM", "mm")
MM2 = Concept("mm2", "UCUM", "mm2")

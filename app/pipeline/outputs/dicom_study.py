"""The patient and study modules the DICOM outputs copy from their source, made valid where the source is not.

Used by :mod:`app.pipeline.outputs.dicom_sr` alone: the only place that reads a source's patient and study
modules, to copy them into the report and the capture that return to the same archive. Nothing read here is
logged or quoted in an error message.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

__all__ = ["DEIDENTIFICATION_UNKNOWN", "text_value", "valid_patient_and_study"]

# Type 2C sequences of the Patient module (PS3.3 C.7.1.1): present, and empty when unknown, for an animal.
_BREED_SEQUENCES = ("PatientBreedCodeSequence", "BreedRegistrationSequence")
_ANIMAL_ATTRIBUTES = (
    "PatientBreedDescription", *_BREED_SEQUENCES, "ResponsiblePerson", "ResponsibleOrganization", "PatientSexNeutered",
)  # fmt: skip
_ACR_NEMA_DATE = re.compile(r"\d{4}\.\d{2}\.\d{2}")
_ACR_NEMA_TIME = re.compile(r"\d{2}(:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_TIME = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,6})?)?)?")
DEIDENTIFICATION_UNKNOWN = "Not stated by the source image"


def valid_patient_and_study(header: Any) -> Any:
    """The header with the values the outputs copy made valid, for ``copy_patient_and_study_information``.

    Archives hold sources that break the standard in ways that are harmless there but make our outputs fail
    validation; what is copied is mended as little as it takes, the caller's header is left as it is:

    * a single-valued element holding several values (PS3.5 6.4) is emptied: see :func:`_single_values`;
    * dates and times (PS3.5 Table 6.2-1) in the ACR-NEMA form (``1997.04.24``, ``14:04:38``) are rewritten
      in the DICOM form; any other malformed one is emptied (all are type 2 or 3 in these modules);
    * an empty sequence is left out: the optional (type 3) sequences of these modules take one or more
      items when present (such as Procedure Code Sequence, PS3.3 C.7.2.1), and an empty one says no more
      than an absent one; the breed sequences, type 2C, are kept, empty, for an animal (below);
    * a patient the source says is an animal (a species is given) gets the type 2C attributes the Patient and
      Patient Study modules then require (PS3.3 C.7.1.1, C.7.2.2), empty, "unknown", where the source has none;
    * a patient whose identity the source says was removed, with no method stated, gets a De-identification
      Method (type 1C, PS3.3 C.7.1.1) saying it is unknown, rather than losing Patient Identity Removed.
    """
    from pydicom.dataset import Dataset

    study = Dataset()  # its own elements dict; shared elements are replaced below, never changed in place
    for tag in list(header.keys()):
        try:
            study.add(header[tag])
        except Exception:  # a corrupt element (a private one, mostly) is not copied, nor quoted
            continue
    _single_values(study)
    for element in list(study):
        if element.VR in ("DA", "TM") and element.VM == 1:
            text = str(element.value).strip()
            valid = _date(text) if element.VR == "DA" else _time(text)
            if valid != text:
                _replace(study, element.tag, valid)
        elif element.VR == "SQ" and not element.value and element.keyword not in _BREED_SEQUENCES:
            del study[element.tag]
    if "PatientSpeciesDescription" in study or "PatientSpeciesCodeSequence" in study:
        # Responsible Person and Organization: each is required when the other is absent; an empty one may
        # read as absent, so both are given ("may be present otherwise")
        for keyword in _ANIMAL_ATTRIBUTES:
            if keyword not in study:
                setattr(study, keyword, [] if keyword.endswith("Sequence") else None)
    removed = text_value(study, "PatientIdentityRemoved") == "YES"
    if removed and not study.get("DeidentificationMethod") and not study.get("DeidentificationMethodCodeSequence"):
        study.DeidentificationMethod = DEIDENTIFICATION_UNKNOWN
    return study


def _single_values(study: Any) -> None:
    """Empty every standard element that holds several values where the dictionary allows one.

    The case met in archives is an Accession Number listing two requests (VM 1, PS3.3 C.7.2.1). Its first
    value is not kept: a study that fulfils two requests belongs to both, and naming one alone would file the
    report under that order only; an empty value (type 2: "unknown") claims nothing, and the outputs still
    join the study by its Study Instance UID.
    """
    from pydicom.datadict import dictionary_VM

    for element in list(study):
        if element.VM > 1 and not element.tag.is_private and _dictionary_vm(dictionary_VM, element.tag) == "1":
            _replace(study, element.tag, None)


def _dictionary_vm(lookup: Any, tag: Any) -> str:
    try:
        return str(lookup(tag))
    except KeyError:  # not in pydicom's dictionary (a retired or unknown public tag): left as it is
        return ""


def _replace(study: Any, tag: Any, value: Any) -> None:
    """Set an element's value in a new element; the old one may be shared with the caller's header."""
    from pydicom.dataelem import DataElement

    study[tag] = DataElement(tag, study[tag].VR, value)


def _date(text: str) -> str:
    """A DA value as YYYYMMDD, from itself or the ACR-NEMA form ``yyyy.mm.dd``; empty when not a date."""
    if _ACR_NEMA_DATE.fullmatch(text):
        text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return ""
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return ""
    return text


def _time(text: str) -> str:
    """A TM value as HH[MM[SS[.F]]], from itself or the ACR-NEMA form ``hh:mm:ss.frac``; empty when not a time."""
    if ":" in text and _ACR_NEMA_TIME.fullmatch(text):
        text = text.replace(":", "")
    match = _TIME.fullmatch(text)
    if match is None:
        return ""
    hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return text if hours < 24 and minutes < 60 and seconds <= 60 else ""  # 60: a leap second


def text_value(ds: Any, keyword: str) -> str:
    """An element of ``ds`` as stripped text; empty when absent or unreadable (never quoted in an error)."""
    try:
        return str(ds.get(keyword) or "").strip()
    except Exception:  # a corrupt element must not crash, nor be quoted
        return ""

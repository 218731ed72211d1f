"""DICOM outputs that return to PACS: a TID 1500 measurement report and a Secondary Capture of the overlay.

:func:`dicom_report` builds two instances for the source's study, each in a new series, as file bytes:

* the SR: a Comprehensive SR holding a TID 1500 Measurement Report with one TID 1501 measurement group
  (tracking identifier "Tendon neovascularity", finding site tendon, finding type vascularity) that
  references the source image (and the selected frame of a multi-frame source). Concepts with a standard
  code use it (PS3.16, as bundled in pydicom's code dictionary); the others use the private coding scheme
  :data:`PRIVATE_SCHEME`, declared in the Coding Scheme Identification Sequence. The observer is the
  device: neovasc, its version and the tendon model.
* the SC: a Secondary Capture (RGB, 8 bits) of the overlay, referencing the source.

The grading pipeline never looks at patient data; it only hands on the source's header (``Clip.header``,
read once when decoding). This module and :mod:`.dicom_study` are the one place that reads its patient and
study modules, and only to copy them into these two outputs (they go back to the same archive), made valid
where the source is not (:func:`.dicom_study.valid_patient_and_study`). Nothing read from the source is
logged or quoted in an error message, and highdicom's own log, which quotes names and UIDs, is silenced.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import UnsupportedInput
from app.pipeline.outputs.dicom_codes import (
    AREA,
    BAND_CF,
    CF_GRADE,
    COUNT,
    FRAME,
    FRAMES,
    FRAMES_ANALYSED,
    FRAMES_KEPT,
    GRADE,
    MAXIMUM,
    MM,
    MM2,
    NO_UNITS,
    OHBERG,
    PERCENT,
    PRIVATE_SCHEME,
    SCALES,
    SCORE,
    SOURCE_FOR_PROCESSING,
    TENDON,
    TENDON_CF,
    THICKNESS,
    ULTRASONOGRAPHY,
    VASCULARITY,
    VESSELS,
    Concept,
)  # fmt: skip
from app.pipeline.outputs.dicom_study import text_value, valid_patient_and_study
from app.schemas import Result, Summary

MANUFACTURER = "neovasc"
TRACKING_IDENTIFIER = "Tendon neovascularity"
SR_SERIES_NUMBER = 9901
SC_SERIES_NUMBER = 9902


@dataclass(frozen=True)
class _Number:
    """One numeric measurement of the report."""

    name: Concept
    value: float | int | None  # None: not measured, left out of the report
    unit: Concept
    derivation: Concept | None = None
    method: Concept | None = None


@dataclass(frozen=True)
class _SourceRef:
    """The UIDs that reference the source; never logged or quoted."""

    study: str
    series: str
    sop_class: str
    sop_instance: str
    frames: int


def dicom_report(header: Any, result: Result, overlay: np.ndarray) -> tuple[bytes, bytes]:
    """The TID 1500 report and the overlay capture of a graded DICOM input, as DICOM Part 10 files.

    Args:
        header: the graded input's DICOM header (a pydicom Dataset, pixel data not needed), as decoding
            kept it (``Clip.header``); None for an input that is not DICOM.
        result: the input's Result; ``ok`` must be true.
        overlay: ``(H, W, 3) uint8 RGB`` overlay of the selected frame, any size.

    Returns:
        ``(sr, sc)``: the bytes of each file (preamble, file meta, dataset). Both keep the source's patient
        and study modules, get new SOP Instance and Series Instance UIDs and reference the source instance.

    Raises:
        UnsupportedInput: the input is not DICOM, lacks a UID needed to place or reference the outputs,
            or has a storage class whose modules highdicom does not describe.
        ValueError: ``result.ok`` is false, or the overlay is malformed.
    """
    summary = _checked(result, overlay)
    if header is None:
        raise UnsupportedInput(
            "a DICOM report needs a DICOM input: this input is not DICOM; grade the scanner's DICOM export"
        )
    ref = _source_ref(header)
    hd = _highdicom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom and highdicom warnings quote element values (names)
        study = valid_patient_and_study(header)
        try:
            sr = _build_sr(hd, header, study, ref, result, summary)
            sc = _build_sc(hd, header, study, ref, np.ascontiguousarray(overlay), result.version, summary.frame_index)
        except KeyError as exc:  # highdicom looks the source's storage class up in its IOD tables
            raise UnsupportedInput(
                f"the DICOM report cannot copy the patient and study modules of {_class_name(ref.sop_class)}: "
                "highdicom does not describe that storage class (retired or private)"
            ) from exc
        return _file_bytes(sr), _file_bytes(sc)


def _file_bytes(dataset: Any) -> bytes:
    """A dataset as a DICOM Part 10 file: preamble, DICM, file meta group, then the dataset."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _numbers(summary: Summary) -> list[_Number]:
    """The report's numeric measurements, in order; measures that are null are left out.

    Colour fractions are in percent (``100 * CF``); the selected frame is the DICOM frame number
    (1-based, ``frame_index + 1``), as in Referenced Frame Number.
    """
    grades = summary.grades
    rows = [
        _Number(TENDON_CF, _percent(summary.colour_fraction), PERCENT),
        _Number(BAND_CF, _percent(summary.band_colour_fraction), PERCENT),
        _Number(VESSELS, summary.vessel_count, COUNT),
        _Number(THICKNESS, summary.thickness_mm, MM, derivation=MAXIMUM),
        _Number(AREA, summary.area_mm2, MM2),
        _Number(GRADE, summary.grade, SCORE, method=SCALES.get(summary.grade_scale or "")),
        _Number(OHBERG, grades.modified_ohberg, SCORE, method=SCALES["modified_ohberg"]),
        _Number(CF_GRADE, grades.colour_fraction_grade, SCORE, method=SCALES["colour_fraction_grade"]),
        _Number(FRAME, None if summary.frame_index is None else summary.frame_index + 1, NO_UNITS),
        _Number(FRAMES_ANALYSED, summary.frames_analysed, FRAMES),
        _Number(FRAMES_KEPT, summary.frames_kept, FRAMES),
    ]
    return [row for row in rows if row.value is not None]


def _laterality(header: Any) -> str:
    """Laterality (0020,0060) of the capture's series (General Series, PS3.3 C.7.3.1).

    It is type 2C, required when the body part examined is paired and no Image Laterality is given; a
    tendon (Achilles, patellar, rotator cuff) is paired, so it is always written: the side the source names
    (its Laterality, else its Image Laterality, PS3.3 C.7.6.1) when that is R or L, the only values it may
    take, else empty ("unknown").
    """
    for keyword in ("Laterality", "ImageLaterality"):
        side = text_value(header, keyword)
        if side in ("R", "L"):
            return side
    return ""


def _checked(result: Result, overlay: np.ndarray) -> Summary:
    if not result.ok or result.summary is None:
        raise ValueError("the DICOM report needs a graded Result (ok=True with a summary); this one failed")
    if not isinstance(overlay, np.ndarray) or overlay.dtype != np.uint8 or overlay.ndim != 3 or overlay.shape[2] != 3:
        shape = getattr(overlay, "shape", None)
        raise ValueError(f"overlay must be an (H, W, 3) uint8 RGB array, got shape {shape}")
    if overlay.shape[0] < 1 or overlay.shape[1] < 1:
        raise ValueError(f"overlay must have at least one pixel, got shape {overlay.shape}")
    return result.summary


def _source_ref(header: Any) -> _SourceRef:
    meta = getattr(header, "file_meta", None) or {}
    uids = {
        "StudyInstanceUID": text_value(header, "StudyInstanceUID"),
        "SeriesInstanceUID": text_value(header, "SeriesInstanceUID"),
        "SOPClassUID": text_value(header, "SOPClassUID") or text_value(meta, "MediaStorageSOPClassUID"),
        "SOPInstanceUID": text_value(header, "SOPInstanceUID") or text_value(meta, "MediaStorageSOPInstanceUID"),
    }
    missing = [keyword for keyword, uid in uids.items() if not uid]
    if missing:
        raise UnsupportedInput(
            f"the DICOM report needs a DICOM input with {', '.join(missing)}, so the outputs can join the "
            "source's study and reference it; this file lacks it (an anonymised or converted copy?). Grade "
            "the archive's original"
        )
    try:
        frames = max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        frames = 1
    return _SourceRef(
        uids["StudyInstanceUID"], uids["SeriesInstanceUID"], uids["SOPClassUID"], uids["SOPInstanceUID"], frames
    )


def _class_name(sop_class: str) -> str:
    """A storage class for a message: a standard one by name; any other is file text, not echoed."""
    from pydicom.uid import UID_dictionary

    return f"the storage class {UID_dictionary[sop_class][0]}" if sop_class in UID_dictionary else "a private class"


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _highdicom() -> Any:
    import highdicom

    # highdicom logs patient names and UIDs (INFO/WARNING); keep them out of our logs
    logging.getLogger("highdicom").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    return highdicom


def _frame_numbers(ref: _SourceRef, frame_index: int | None) -> list[int] | None:
    """The selected frame as a Referenced Frame Number (1-based), for multi-frame sources only."""
    if ref.frames < 2 or frame_index is None or frame_index >= ref.frames:
        return None
    return [frame_index + 1]


def _evidence(header: Any, ref: _SourceRef) -> Any:
    """The source as highdicom's evidence: its UIDs, with the patient and study values empty.

    highdicom re-parses a few patient and study values, refuses some that do not conform (a sex other
    than M, F or O) and warns quoting others (a one-part name); the outputs must carry what the source
    holds, so these are given empty here and the source's own elements are copied over afterwards.
    """
    from pydicom.dataset import Dataset

    evidence = Dataset()
    evidence.SOPClassUID, evidence.SOPInstanceUID = ref.sop_class, ref.sop_instance
    evidence.StudyInstanceUID, evidence.SeriesInstanceUID = ref.study, ref.series
    if "SpecificCharacterSet" in header:
        evidence.SpecificCharacterSet = header.SpecificCharacterSet
    for keyword in (
        "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
        "StudyDate", "StudyTime", "ReferringPhysicianName",
    ):  # fmt: skip
        setattr(evidence, keyword, None)
    return evidence


def _source_equipment(hd: Any, header: Any) -> list[Any]:
    """The scanner as contributing equipment, when the source names its manufacturer."""
    try:
        return [hd.ContributingEquipment.for_image_acquisition(header)]
    except Exception:  # no Manufacturer, or not an image class: nothing to record
        return []


def _observation(hd: Any, result: Result) -> Any:
    """The observer is a device: neovasc at this version, with its tendon model when one drew the region."""
    from pydicom.uid import generate_uid

    label = f"neovasc {result.version}"
    model = result.model
    model_name = label if model is None else f"{label} with tendon model {model.name} (sha256 {model.sha256})"
    # the same software and model give the same device UID, so reports from one device group together
    uid = generate_uid(prefix=None, entropy_srcs=["neovasc", result.version, model.sha256 if model else ""])
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid, name=label, manufacturer_name=MANUFACTURER, model_name=model_name
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=Concept("121007", "DCM", "Device").coded(), observer_identifying_attributes=device
        )
    )


def _algorithm(hd: Any, result: Result) -> Any:
    parameters = []
    if result.roi is not None:
        parameters.append(f"roi_source={result.roi.source}")
    if result.model is not None:
        parameters += [f"tendon_model={result.model.name}", f"tendon_model_sha256={result.model.sha256}"]
    return hd.sr.AlgorithmIdentification(
        name="neovasc", version=result.version, parameters=parameters or None, manufacturer=MANUFACTURER
    )


def _measurement(hd: Any, number: _Number) -> Any:
    value = float(number.value) if isinstance(number.value, float) else int(number.value)
    return hd.sr.Measurement(
        name=number.name.coded(),
        value=value,
        unit=number.unit.coded(),
        derivation=number.derivation.coded() if number.derivation else None,
        method=number.method.coded() if number.method else None,
    )


def _build_sr(hd: Any, header: Any, study: Any, ref: _SourceRef, result: Result, summary: Summary) -> Any:
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=TRACKING_IDENTIFIER),
        finding_type=VASCULARITY.coded(),
        finding_sites=[hd.sr.FindingSite(TENDON.coded())],
        algorithm_id=_algorithm(hd, result),
        measurements=[_measurement(hd, number) for number in _numbers(summary)],
        source_images=[
            hd.sr.SourceImageForMeasurementGroup(
                ref.sop_class, ref.sop_instance, _frame_numbers(ref, summary.frame_index)
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=_observation(hd, result),
        procedure_reported=ULTRASONOGRAPHY.coded(),
        imaging_measurements=[group],
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[_evidence(header, ref)],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,  # every measure neovasc made is in it; unverified and preliminary: no one signed it
        contributing_equipment=_source_equipment(hd, header),
        series_description="neovasc measurements",
        manufacturer_model_name=MANUFACTURER,
        software_versions=result.version,
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME, name="neovasc measurement concepts", responsible_organization=MANUFACTURER
            )
        ],
    )
    sr.copy_patient_and_study_information(study)
    return sr


def _build_sc(
    hd: Any, header: Any, study: Any, ref: _SourceRef, overlay: np.ndarray, version: str, frame: int | None
) -> Any:
    sc = hd.sc.SCImage(
        pixel_array=overlay,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        patient_orientation=("L", "F"),  # highdicom requires one; replaced by the source's value below
        study_instance_uid=ref.study,
        series_instance_uid=hd.UID(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=version,
        series_description="neovasc overlay",
        contributing_equipment=_source_equipment(hd, header),
        specific_character_set=header.get("SpecificCharacterSet"),
    )
    sc.copy_patient_and_study_information(study)
    # Ultrasound frames rarely state a patient orientation; an empty value (type 2) says "unknown".
    sc.PatientOrientation = header.get("PatientOrientation")
    sc.Laterality = _laterality(header)
    sc.ConversionType = "WSD"  # rendered by a workstation from a digital image (PS3.3 C.8.6.1)
    sc.DerivationDescription = "neovasc overlay: region contour and counted Doppler pixels on the selected frame"
    _copy_pixel_provenance(header, sc)
    _reference_source(sc, ref, frame)
    return sc


def _copy_pixel_provenance(header: Any, sc: Any) -> None:
    """Carry over what the overlay inherits from the source's pixels.

    Burned-in annotation: the overlay shows the source's screen, with any identifying text on it, and
    adds none. Lossy compression: once lossy, derived images must say so (PS3.3 C.7.6.1.1.5).
    """
    if header.get("BurnedInAnnotation"):
        sc.BurnedInAnnotation = header.BurnedInAnnotation
    if str(header.get("LossyImageCompression") or "") == "01":
        for keyword in ("LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"):
            if keyword in header:
                setattr(sc, keyword, header[keyword].value)


def _reference_source(sc: Any, ref: _SourceRef, frame_index: int | None) -> None:
    """Source Image Sequence (the frame the overlay was drawn on) and, in the Common Instance Reference
    module (PS3.3 C.12.2), the source's series and instance in this study."""
    from pydicom.dataset import Dataset

    source, instance, series = Dataset(), Dataset(), Dataset()
    for item in (source, instance):
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ref.sop_class, ref.sop_instance
    frames = _frame_numbers(ref, frame_index)
    if frames:
        source.ReferencedFrameNumber = frames[0]
    source.PurposeOfReferenceCodeSequence = [SOURCE_FOR_PROCESSING.coded()]
    series.SeriesInstanceUID, series.ReferencedInstanceSequence = ref.series, [instance]
    sc.SourceImageSequence, sc.ReferencedSeriesSequence = [source], [series]

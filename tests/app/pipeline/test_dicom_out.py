"""The DICOM outputs for PACS, on an ultrasound DICOM built here: values, study, references, pixels, errors."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from app.errors import UnsupportedInput
from app.pipeline.dicom_out import write_dicom_report
from app.schemas import Grades, ModelInfo, Result, Roi, Summary

try:  # a private highdicom module: a release that moves it skips the one test using it, nothing else
    from highdicom._standard_utils import check_required_attributes, get_iod_module_map, get_sop_class_iod_map
except ImportError:
    check_required_attributes = None

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
IDENTITY = {
    "PatientName": "DOE^JANE",
    "PatientID": "PID-4711",
    "PatientBirthDate": "19700101",
    "PatientSex": "F",
    "StudyDate": "20240102",
    "StudyTime": "101500",
    "AccessionNumber": "ACC-0815",
    "ReferringPhysicianName": "REF^DOC",
    "StudyID": "STUDY7",
}
UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
SHA = "ab" * 32


def _source(frames: int = 3, drop: tuple[str, ...] = (), **changes: object) -> tuple[bytes, Dataset]:
    """A small RGB ultrasound DICOM (multi-frame when ``frames > 1``) and its header."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME if frames > 1 else US_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "US", "ACME", 3, 1
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 4, 5, 3, "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.PlanarConfiguration = 8, 8, 7, 0, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = np.zeros((frames, 4, 5, 3), np.uint8).tobytes()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    for keyword in drop:
        delattr(ds, keyword)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), ds


def _result(**summary: object) -> Result:
    values: dict[str, object] = dict(
        colour_fraction=0.1234, band_colour_fraction=0.05, vessel_count=3, thickness_mm=5.25, area_mm2=None,
        grade=3, grade_scale="modified_ohberg", grades=Grades(modified_ohberg=3, colour_fraction_grade=3),
        frame_index=1, frames_analysed=3, frames_kept=3,
    )  # fmt: skip
    values.update(summary)
    return Result(
        input="clip.dcm",
        ok=True,
        summary=Summary(**values),
        roi=Roi(source="model", kind="segmentation", area_px=100),
        model=ModelInfo(name="unet_small", sha256=SHA),
        version="0.1.0",
    )


def _overlay(height: int = 7, width: int = 9) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _private(value: str) -> Code:
    return Code(value, "99NEOVASC", "")


def _measures(group: hd.sr.MeasurementsAndQualitativeEvaluations) -> dict[tuple[str, str], hd.sr.Measurement]:
    return {(m.name.scheme_designator, m.name.value): m for m in group.get_measurements()}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path, Path]:
    data, header = _source(frames=3)
    sr_path, sc_path = write_dicom_report(data, _result(), _overlay(), tmp_path_factory.mktemp("out") / "new", "clip")
    return header, sr_path, sc_path


def test_file_names(written):
    _, sr_path, sc_path = written
    assert (sr_path.name, sc_path.name) == ("clip.sr.dcm", "clip.sc.dcm")
    assert sr_path.parent == sc_path.parent and sr_path.parent.name == "new"  # out_dir was created


def test_measurements_round_trip(written):
    _, sr_path, _ = written
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_image_measurement_groups()
    assert len(groups) == 1 and groups[0].tracking_identifier == "Tendon neovascularity"
    measures = _measures(groups[0])
    expected = {  # (scheme, code): (value, UCUM unit)
        ("99NEOVASC", "TENDON_CF"): (100 * 0.1234, "%"),
        ("99NEOVASC", "BAND_CF"): (100 * 0.05, "%"),
        ("99NEOVASC", "VESSELS"): (3, "{count}"),
        ("LN", "59089-3"): (5.25, "mm"),
        ("99NEOVASC", "GRADE"): (3, "{score}"),
        ("99NEOVASC", "OHBERG_MOD"): (3, "{score}"),
        ("99NEOVASC", "CF_GRADE"): (3, "{score}"),
        ("99NEOVASC", "SEL_FRAME"): (2, "1"),  # frame_index 1 is DICOM frame number 2
        ("99NEOVASC", "FRAMES_ANALYSED"): (3, "{frames}"),
        ("99NEOVASC", "FRAMES_KEPT"): (3, "{frames}"),
    }
    assert set(measures) == set(expected)  # the area (null) is absent
    for key, (value, unit) in expected.items():
        assert (measures[key].value, measures[key].unit.value, measures[key].unit.scheme_designator) == (
            value,
            unit,
            "UCUM",
        ), key
    assert measures[("LN", "59089-3")].derivation == codes.SCT.Maximum
    assert measures[("99NEOVASC", "GRADE")].method == _private("OHBERG_SCALE")
    assert groups[0].finding_sites[0].value == codes.SCT.TendonStructure


def test_measurement_group_and_evidence_reference_the_source(written):
    header, sr_path, _ = written
    sr = hd.sr.srread(sr_path)
    (source_image,) = sr.content.get_image_measurement_groups()[0].source_images
    assert source_image.referenced_sop_instance_uid == header.SOPInstanceUID
    assert source_image.referenced_sop_class_uid == US_MULTIFRAME
    assert source_image.referenced_frame_numbers == [2]
    assert sr.get_evidence() == [
        (header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID, US_MULTIFRAME)
    ]


def test_device_observer_names_neovasc_and_the_model(written):
    _, sr_path, _ = written
    sr = hd.sr.srread(sr_path)
    (observer,) = sr.content.get_observer_contexts(observer_type=codes.DCM.Device)
    device = observer.observer_identifying_attributes
    assert device.name == "neovasc 0.1.0" and device.manufacturer_name == "neovasc"
    assert "unet_small" in device.model_name and SHA in device.model_name


def test_private_codes_are_declared(written):
    _, sr_path, _ = written
    ds = pydicom.dcmread(sr_path)
    declared = {item.CodingSchemeDesignator for item in ds.CodingSchemeIdentificationSequence}
    used = set()

    def walk(items) -> None:
        for item in items:
            for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
                used.update(code.CodingSchemeDesignator for code in item.get(keyword, []))
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert "99NEOVASC" in used and {s for s in used if s.startswith("99")} <= declared


@pytest.mark.parametrize("kind", ["sr", "sc"])
def test_patient_and_study_are_the_source_s_series_and_instance_are_new(written, kind):
    header, sr_path, sc_path = written
    ds = pydicom.dcmread(sr_path if kind == "sr" else sc_path)
    other = pydicom.dcmread(sc_path if kind == "sr" else sr_path, stop_before_pixels=True)
    for keyword in (*IDENTITY, "StudyInstanceUID"):
        assert ds[keyword].value == header[keyword].value, keyword
    assert ds.SOPInstanceUID not in (header.SOPInstanceUID, other.SOPInstanceUID)
    assert ds.SeriesInstanceUID not in (header.SeriesInstanceUID, other.SeriesInstanceUID)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.Manufacturer == "neovasc"
    assert (ds.Modality, ds.SOPClassUID) == (
        ("SR", "1.2.840.10008.5.1.4.1.1.88.33") if kind == "sr" else ("OT", "1.2.840.10008.5.1.4.1.1.7")
    )


def test_secondary_capture_holds_the_overlay_and_references_the_source(written):
    header, _, sc_path = written
    ds = pydicom.dcmread(sc_path)
    np.testing.assert_array_equal(ds.pixel_array, _overlay())
    assert (ds.PhotometricInterpretation, ds.BitsAllocated, ds.SamplesPerPixel) == ("RGB", 8, 3)
    assert "BurnedInAnnotation" not in ds and "LossyImageCompression" not in ds  # the source states neither
    (source,) = ds.SourceImageSequence
    assert (source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID) == (US_MULTIFRAME, header.SOPInstanceUID)
    assert source.ReferencedFrameNumber == 2
    (series,) = ds.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == header.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID


@pytest.mark.parametrize("kind", ["sr", "sc"])
def test_required_attributes_of_every_mandatory_module(written, kind):
    """highdicom's check of type 1 and 2 attributes (presence only) for each mandatory module of the IOD."""
    if check_required_attributes is None:
        pytest.skip("this highdicom release has no highdicom._standard_utils")
    _, sr_path, sc_path = written
    ds = pydicom.dcmread(sr_path if kind == "sr" else sc_path)
    modules = get_iod_module_map()[get_sop_class_iod_map()[ds.SOPClassUID]]
    # The SR content module lists every value type's attributes as if all applied (they are conditional
    # on the value type, which a presence check cannot see); srread's template parsing checks the tree.
    mandatory = [
        module["key"] for module in modules if module["usage"] == "M" and module["key"] != "sr-document-content"
    ]
    assert "patient" in mandatory and "general-study" in mandatory
    for module in mandatory:
        check_required_attributes(ds, module)


def test_still_source_from_a_path_strict_value_checks_and_nulls_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.RAISE)
    data, _ = _source(frames=1)
    (tmp_path / "still.dcm").write_bytes(data)
    nulls = dict(colour_fraction=None, band_colour_fraction=None, vessel_count=None, thickness_mm=None, grade=None)
    result = _result(**nulls, grades=Grades(), frame_index=0, frames_analysed=None, frames_kept=None)
    sr_path, sc_path = write_dicom_report(tmp_path / "still.dcm", result, _overlay(1, 1), tmp_path, "still")
    group = hd.sr.srread(sr_path).content.get_image_measurement_groups()[0]
    assert set(_measures(group)) == {("99NEOVASC", "SEL_FRAME")}
    assert group.source_images[0].referenced_frame_numbers is None  # a single-frame source has no frame numbers
    sc = pydicom.dcmread(sc_path)
    assert "ReferencedFrameNumber" not in sc.SourceImageSequence[0]
    np.testing.assert_array_equal(sc.pixel_array.reshape(1, 1, 3), _overlay(1, 1))


def test_odd_or_missing_patient_values_are_kept_as_the_source_has_them(tmp_path):
    """highdicom refuses a sex other than M/F/O and warns on a one-part name; the outputs keep them anyway."""
    data, _ = _source(drop=("StudyID",), PatientName="DOEJANE", PatientSex="OTHER", PatientBirthDate="")
    sr_path, sc_path = write_dicom_report(data, _result(), _overlay(), tmp_path, "odd")
    for path in (sr_path, sc_path):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert (ds.PatientName, ds.PatientSex, ds.StudyID, ds.PatientBirthDate) == ("DOEJANE", "OTHER", "", "")


def test_capture_carries_burned_in_annotation_and_lossy_compression(tmp_path):
    lossy = dict(LossyImageCompression="01", LossyImageCompressionRatio=12.5, LossyImageCompressionMethod="ISO_10918_1")
    data, _ = _source(BurnedInAnnotation="YES", **lossy)
    _, sc_path = write_dicom_report(data, _result(), _overlay(), tmp_path, "lossy")
    ds = pydicom.dcmread(sc_path, stop_before_pixels=True)
    assert ds.BurnedInAnnotation == "YES"
    assert (ds.LossyImageCompression, float(ds.LossyImageCompressionRatio), ds.LossyImageCompressionMethod) == (
        "01",
        12.5,
        "ISO_10918_1",
    )


def test_no_patient_data_or_uid_in_logs_or_warnings(tmp_path, caplog):
    data, header = _source(PatientName="DOEJANE")  # a one-part name: highdicom warns quoting it
    secrets = [*IDENTITY.values(), "DOEJANE", *(header[uid].value for uid in UIDS)]
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_dicom_report(data, _result(), _overlay(), tmp_path, "quiet")
    said = caplog.text + "\n".join(str(w.message) for w in caught)
    assert [s for s in secrets if s in said] == []


def _raises_cleanly(error: type[Exception], data: bytes, header: Dataset | None, tmp_path: Path, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        write_dicom_report(data, _result(), _overlay(), tmp_path, "bad")
    if header is not None:
        message = str(info.value)
        leaked = [v for v in (*IDENTITY.values(), *(str(header.get(u, "")) for u in UIDS)) if v and v in message]
        assert leaked == []
    assert list(tmp_path.iterdir()) == []


def test_non_dicom_bytes_are_refused(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    _raises_cleanly(UnsupportedInput, png, None, tmp_path, "--dicom-out needs a DICOM input")


def test_source_without_study_uid_is_refused(tmp_path):
    data, header = _source(drop=("StudyInstanceUID",))
    _raises_cleanly(UnsupportedInput, data, header, tmp_path, "--dicom-out needs a DICOM input with StudyInstanceUID")


@pytest.mark.parametrize(
    "sop_class", ["1.2.840.10008.5.1.4.1.1.6", "1.2.826.0.1.3680043.2.9999.1"], ids=["retired-us", "private"]
)
def test_storage_class_highdicom_does_not_describe_is_refused(tmp_path, sop_class):
    data, header = _source(frames=1, SOPClassUID=sop_class)
    _raises_cleanly(UnsupportedInput, data, header, tmp_path, "cannot copy the patient and study modules")


def test_failed_result_is_refused(tmp_path):
    data, _ = _source()
    failed = Result(input="clip.dcm", ok=False, version="0.1.0")
    with pytest.raises(ValueError, match="ok=True"):
        write_dicom_report(data, failed, _overlay(), tmp_path, "failed")


@pytest.mark.parametrize(
    "overlay",
    [
        np.zeros((4, 5), np.uint8),
        np.zeros((4, 5, 4), np.uint8),
        np.zeros((4, 5, 3), np.float32),
        np.zeros((0, 5, 3), np.uint8),
    ],
    ids=["grey", "rgba", "float", "empty"],
)
def test_malformed_overlay_is_refused(tmp_path, overlay):
    data, _ = _source()
    with pytest.raises(ValueError, match="overlay must"):
        write_dicom_report(data, _result(), overlay, tmp_path, "bad")

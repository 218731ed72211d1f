"""The Result contract (``schema: "neovasc.result/1"``): one shape for HTTP, the command line and Python.

Later versions may add fields; they never rename, remove or change the meaning of one. The JSON
Schema is published in ``docs/result.schema.json`` (regenerate with ``neovasc schema``) and in the
OpenAPI document.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA = "neovasc.result/1"
# The named grading scales (docs/grading.md); each is a field of `Grades`.
GradeScale = Literal["modified_ohberg", "colour_fraction_grade"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorInfo(_Model):
    code: str = Field(description="Stable error code, e.g. 'decode_error' (docs/errors.md).")
    message: str


class WarningInfo(_Model):
    code: str = Field(description="Stable warning code, e.g. 'uncalibrated'.")
    message: str


class Box(_Model):
    """A pixel rectangle, half-open: x0 <= x < x1, y0 <= y < y1, in input-image coordinates."""

    x0: int = Field(ge=0)
    y0: int = Field(ge=0)
    x1: int = Field(ge=0)
    y1: int = Field(ge=0)


class Grades(_Model):
    """Every grade computed, keyed by scale name (docs/grading.md); null when not computable."""

    modified_ohberg: int | None = Field(None, ge=0, le=4)
    colour_fraction_grade: int | None = Field(None, ge=0, le=3)


class Summary(_Model):
    colour_fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="Doppler pixels / ROI pixels on the selected frame."
    )
    doppler_px: int | None = Field(None, ge=0, description="Doppler pixels inside the ROI.")
    tendon_area_px: int | None = Field(None, ge=0, description="ROI pixels counted as denominator.")
    vessel_count: int | None = Field(None, ge=0)
    grade: int | None = Field(None, ge=0, description="The headline grade, on the scale `grade_scale`.")
    grade_scale: str | None = None
    grades: Grades = Field(default_factory=Grades)
    frame_index: int | None = Field(None, ge=0, description="The selected frame.")
    thickness_mm: float | None = Field(
        None,
        ge=0.0,
        description="Maximal tendon thickness on the selected frame; null uncalibrated or without a tendon.",
    )
    area_mm2: float | None = Field(
        None, ge=0.0, description="Whole tendon area on the selected frame; null uncalibrated or without a tendon."
    )
    # Added in 0.2 (additive): clip statistics, the peritendinous band, weighted measures.
    frames_analysed: int | None = Field(None, ge=0, description="Frames measured (after sampling).")
    frames_kept: int | None = Field(None, ge=0, description="Frames measured and not rejected as flash.")
    colour_fraction_mean: float | None = Field(
        None, ge=0.0, le=1.0, description="Mean tendon colour fraction over the kept frames."
    )
    colour_fraction_median: float | None = Field(
        None, ge=0.0, le=1.0, description="Median tendon colour fraction over the kept frames."
    )
    band_colour_fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="Colour fraction of the peritendinous band on the selected frame."
    )
    band_doppler_px: int | None = Field(None, ge=0, description="Doppler pixels in the band, inside the box.")
    band_area_px: int | None = Field(None, ge=0, description="Band pixels inside the box: its denominator.")
    band_width_mm: float | None = Field(None, ge=0.0, description="Band width; null when uncalibrated.")
    band_width_px: float | None = Field(None, ge=0.0, description="Band width in pixels (along x when non-square).")
    vessel_min_px: int | None = Field(None, ge=1, description="Smallest Doppler blob counted as a vessel, pixels.")
    value_kind: Literal["power", "velocity"] | None = Field(
        None, description="What the colour bar maps colours to, when a bar was read."
    )
    mean_value: float | None = Field(
        None, ge=0.0, le=1.0, description="Mean power level or |velocity fraction| of the tendon's Doppler pixels."
    )
    weighted_fraction: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Sum of power level or |velocity fraction| over the tendon / tendon pixels.",
    )


class FrameMeasure(_Model):
    index: int = Field(ge=0, description="Frame index in the input (sampling keeps the original indices).")
    colour_fraction: float | None = Field(None, ge=0.0, le=1.0)
    doppler_px: int = Field(ge=0)
    tendon_area_px: int = Field(ge=0)
    flash: bool = Field(False, description="Rejected as a motion flash frame (docs/grading.md).")
    box_colour_fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="Doppler pixels / pixels of the whole Doppler box (the flash measure)."
    )
    band_colour_fraction: float | None = Field(None, ge=0.0, le=1.0)


class Roi(_Model):
    source: Literal["user", "model"]
    kind: Literal["rectangle", "mask", "segmentation"]
    bbox: Box | None = Field(None, description="Bounding box of the ROI on the selected frame.")
    area_px: int = Field(ge=0, description="ROI pixels on the selected frame (whole ROI).")
    # Added in 0.3 (additive): how the model's outline came about.
    confidence: float | None = Field(
        None, ge=0.0, le=1.0, description="Model outlines: mean tendon probability over the outline x agreement."
    )
    presence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Model outlines: the model's probability that the picture holds a tendon at all (at or below "
        "0.5 it judged none, unless a hint was given); null for a model without a presence head.",
    )
    movement: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Model outlines of clips: the largest change of the B-mode picture measured between a frame and "
        "the frame its outline was made on, 1 - the correlation of their thumbnails (0: still).",
    )
    outlines: int | None = Field(
        None, ge=0, description="Model outlines: how many the clip needed, one per different picture (1: still)."
    )
    hint: Literal["box", "points"] | None = Field(None, description="The user's hint that chose the model's region.")


class DopplerBox(Box):
    """One Doppler box; the counted interior is the exact shape, the rectangle its bounds."""

    shape: Literal["rectangle", "parallelogram", "sector", "colour_extent", "region", "trapezoid"]
    source: Literal["dicom_region", "outline", "colour_extent"]


class ColourBar(Box):
    """A colour legend found on the screen (excluded from counting)."""

    kind: Literal["velocity", "power"] = Field(description="velocity: signed flow -1..1; power: level 0..1.")
    source: str


class Caliper(_Model):
    """A measurement caliper drawn in colour over the picture (a dotted line of one colour, crosses at its ends)."""

    box: Box = Field(description="Bounds of the pixels left out.")
    dots: int = Field(ge=0, description="Dots of its dotted line found.")
    crosses: int = Field(ge=0, le=2, description="Crosses found at its ends.")
    pixels: int = Field(ge=0, description="Pixels under it left out of the count and of the tendon's area.")
    colour: list[int] = Field(min_length=3, max_length=3, description="Its colour, RGB.")


class ImageArea(Box):
    source: Literal["dicom_region", "pixels", "frame"]


class Doppler(_Model):
    mode: Literal["colour", "power", "none"]
    box: Box | None = Field(None, description="Bounds of all Doppler boxes together, when found.")
    boxes: list[DopplerBox] = Field(default_factory=list, description="Each Doppler box (two on a split screen).")
    colour_bars: list[ColourBar] = Field(default_factory=list)
    calipers: list[Caliper] = Field(
        default_factory=list,
        description="Coloured measurement calipers found over the picture; their pixels are never counted.",
    )
    image_area: ImageArea | None = Field(None, description="The ultrasound picture on the screen.")


class Calibration(_Model):
    mm_per_px_x: float = Field(gt=0.0)
    mm_per_px_y: float = Field(gt=0.0)
    source: str = Field(
        description="dicom_ultrasound_region (the DICOM region holding the analysed area) or screen_depth_scale "
        "(read from the depth scale drawn beside the picture; x is given the same size as y)."
    )
    evidence: dict[str, float | int | str | list[int]] | None = Field(
        None,
        description="screen_depth_scale: what was read. side, tick_spacing_px (fitted over every tick), "
        "ticks (lattice nodes holding one), first_tick_y (frame row of the first), tick_spread_px (rms off the "
        "lattice), major_every and label_every (nodes), labels (the values read), cm_per_tick and rule (labels "
        "or tick_lengths: what gave the cm per tick).",
    )


class SourceFacts(_Model):
    """How the input was encoded: format and colour facts only, never patient identifiers."""

    format: str = Field(description="dicom, mp4, mov, avi, mkv, png, jpeg, bmp, tiff or array.")
    colour: str = Field(description="Colour model as stored, e.g. RGB, YBR_FULL_422, PALETTE COLOR, yuv420p.")
    bit_depth: int = Field(ge=1)
    codec: str | None = Field(None, description="Compression, e.g. jpeg-baseline, rle, h264.")
    transfer_syntax: str | None = Field(None, description="DICOM transfer syntax UID (a standard constant).")
    sop_class: str | None = Field(None, description="DICOM storage class name.")
    vendor: str | None = None
    yuv_matrix: Literal["bt601", "bt709"] | None = Field(None, description="Video: YUV -> RGB matrix applied.")
    yuv_range: Literal["limited", "full"] | None = Field(None, description="Video: YUV range applied.")
    num_frames: int = Field(ge=1)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    fps: float | None = Field(None, gt=0.0)
    chroma_subsampling: Literal["4:4:4", "4:2:2", "4:2:0", "4:1:1", "4:4:0"] | None = Field(
        None,
        description="How colour was sampled as stored: 4:4:4 every pixel its own colour; 4:2:2, 4:2:0 (JPEG, H.264, "
        "JPEG DICOM) one colour per 2 or 4 pixels. Null for grey or palette data, or when unknown.",
    )
    lossy: bool | None = Field(
        None,
        description="Whether the pixels went through lossy compression (the file's codec, or a loss the DICOM "
        "header records); null when unknown. Lossy colour is counted by luma and chroma together (docs/grading.md).",
    )


class ModelInfo(_Model):
    name: str
    sha256: str


class BatchInfo(_Model):
    """Command-line batches (``neovasc grade``): where the line came from and the key ``--resume`` matches on.

    The study keys are only what a ``--manifest`` row gave, never read from the input's DICOM header.
    """

    path: str = Field(description="The input's path as given (relative to the manifest's folder for manifest rows).")
    key: str | None = Field(
        None,
        description="Resume key: sha256 of input_sha256 (an unreadable file: its absolute path) and settings_sha256.",
    )
    input_sha256: str | None = Field(None, description="sha256 of the input file's bytes.")
    settings_sha256: str = Field(
        description="sha256 of what decides the grade: options, grading settings, model sha256, neovasc version."
    )
    study: str | None = Field(None, description="Manifest column `study`.")
    patient_key: str | None = Field(None, description="Manifest column `patient_key` (a pseudonymous key).")
    timepoint: str | None = Field(None, description="Manifest column `timepoint`, e.g. before or after.")


class Result(_Model):
    """The outcome of grading one input."""

    schema_: Literal["neovasc.result/1"] = Field(RESULT_SCHEMA, alias="schema")
    input: str = Field(description="Base name of the input (never a directory path).")
    ok: bool
    error: ErrorInfo | None = None
    summary: Summary | None = None
    frames: list[FrameMeasure] = Field(default_factory=list)
    roi: Roi | None = None
    doppler: Doppler | None = None
    calibration: Calibration | None = None
    source: SourceFacts | None = None
    warnings: list[WarningInfo] = Field(default_factory=list)
    device: str | None = None
    backend: str | None = None
    model: ModelInfo | None = None
    timing_ms: dict[str, float] = Field(default_factory=dict)
    version: str
    id: str | None = Field(
        None, description="HTTP only: the stored result's id, for GET /v1/results/{id}/... (random, no patient data)."
    )
    links: dict[str, str] = Field(
        default_factory=dict, description="HTTP only: URLs of the stored overlay images and video, by name."
    )
    # Added in 0.3 (additive): command-line batches only.
    batch: BatchInfo | None = Field(None, description="Command-line batches only: input path, resume key, study keys.")

    def to_json(self) -> str:
        """One line of JSON, with the public field names."""
        return self.model_dump_json(by_alias=True)


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable error ``code`` as an extension member."""

    type: str = Field(examples=["urn:neovasc:error:no_tendon_model"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code (docs/errors.md).")
    instance: str | None = None


class ModelStatus(BaseModel):
    loaded: bool
    name: str | None = None
    sha256: str | None = None
    runtime: str | None = Field(None, description="What computes the network: onnxruntime or torch.")
    error: str | None = Field(None, description="Why a listed model could not be loaded.")


class ReadinessBrief(BaseModel):
    """``GET /readyz`` without an API key: whether the service is ready, nothing about it."""

    ready: bool


class Readiness(ReadinessBrief):
    """``GET /readyz`` with an API key."""

    device: str
    backends: list[str]
    model: ModelStatus
    workers: int = Field(description="Analyses that run at once (NEOVASC_WORKERS).")
    segment_batching: bool = Field(description="Frames of concurrent analyses share the tendon model's calls.")
    versions: dict[str, str] = Field(description="neovasc, Python and the libraries that compute a Result.")
    version: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str

"""Runtime settings. The only module that reads the environment (prefix ``NEOVASC_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.schemas import GradeScale
from cuda_ops.dispatch import known_backend
from cuda_ops.lut import DEFAULT_CHROMA_THRESHOLD

REPO_ROOT = Path(__file__).resolve().parent.parent
PORTS = (1, 65535)  # NEOVASC_PORT and serve --port
WORKERS = (1, 64)  # NEOVASC_WORKERS and serve --workers
MAX_DECODABLE_PIXELS = 1 << 30  # OpenCV's image readers refuse larger frames (CV_IO_MAX_IMAGE_PIXELS)


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``NEOVASC_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="NEOVASC_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=PORTS[0], le=PORTS[1])
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: str = "auto"
    weights_dir: Path = REPO_ROOT / "weights"
    # auto: the tendon network runs with ONNX Runtime on the CPU when weights/ ships its graph; torch: always torch
    model_runtime: Literal["auto", "torch"] = "auto"

    # Classification and grading (see docs/grading.md for the sources).
    chroma_threshold: int = Field(DEFAULT_CHROMA_THRESHOLD, ge=0, le=254)
    # auto: lossy or chroma-subsampled inputs are counted by luma and chroma together; chroma: the chroma rule always
    colour_rule: Literal["auto", "chroma", "table"] = "auto"
    min_vessel_px: int = Field(5, ge=1)  # uncalibrated inputs; calibrated ones use min_vessel_mm2
    min_vessel_mm2: float = Field(0.05, gt=0.0)
    vessel_gap_px: int = Field(3, ge=0, le=20)  # blobs at most this far apart are one vessel; uncalibrated inputs
    vessel_gap_mm: float = Field(0.25, ge=0.0, le=2.0)  # ... and on calibrated ones
    band_mm: float = Field(2.0, gt=0.0, le=20.0)  # peritendinous band width, calibrated inputs
    band_px: int = Field(20, ge=0, le=500)  # ... and on uncalibrated ones (0: no band)
    grade_scale: GradeScale = "modified_ohberg"

    # Limits checked before pixel data is decoded (see docs/architecture.md).
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1)
    max_frame_pixels: int = Field(4096 * 4096, ge=1, le=MAX_DECODABLE_PIXELS)
    max_frames: int = Field(10_000, ge=1)
    max_total_pixels: int = Field(2_000_000_000, ge=1)  # of the frames measured: every / max_frames sample a clip
    max_decoded_bytes: int = Field(512 * 1024 * 1024, ge=1)  # inflated DICOM dataset, a still's decoded samples

    # HTTP service.
    workers: int = Field(1, ge=WORKERS[0], le=WORKERS[1])
    # auto: on a GPU with more than one worker, one thread runs the tendon model for all workers, frames batched
    segment_batching: Literal["auto", "on", "off"] = "auto"
    result_store_mb: int = Field(256, ge=0, le=65536)  # overlays kept for GET /v1/results/{id}/...
    # picture: overlays black outside the ultrasound picture (burned-in names and dates); full: the whole screen
    overlay_screen: Literal["picture", "full"] = "picture"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a log line (app/logs.py)

    # HTTP resource limits (see docs/http.md#limits-and-timeouts).
    max_uploads_in_flight: int = Field(4, ge=1, le=1024)  # POST requests at once; beyond: 503 + Retry-After
    request_timeout_s: float = Field(120.0, gt=0.0, le=24 * 3600)  # an analysis of /v1/grade or /v1/compare
    job_timeout_s: float = Field(3600.0, gt=0.0, le=7 * 24 * 3600)  # an analysis of a job (POST /v1/jobs)
    max_jobs: int = Field(16, ge=1, le=10_000)  # jobs queued or running; beyond: 503 + Retry-After
    # uvicorn, for `neovasc serve`: idle keep-alive, connections at once, the largest header block
    keep_alive_s: int = Field(5, ge=1, le=300)
    max_connections: int = Field(64, ge=1, le=100_000)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)

    # HTTP access control (see docs/http.md#authentication).
    # auto: keys are required when api_keys_file is set; without it, only loopback requests are answered.
    auth: Literal["auto", "on", "off"] = "auto"
    api_keys_file: Path | None = None  # lines "name:sha256hex", written by `neovasc keys add NAME`
    result_ttl_s: int = Field(3600, ge=1, le=7 * 24 * 3600)  # stored outputs expire this long after grading
    # Comma-separated lists in the environment, e.g. NEOVASC_ALLOWED_HOSTS=neovasc.example.org,localhost
    cors_origins: Annotated[list[str], NoDecode] = []  # none: browsers on other origins get no CORS headers
    allowed_hosts: Annotated[list[str], NoDecode] = ["localhost", "127.0.0.1", "::1"]

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        """A counting backend of ``cuda_ops`` or ``auto``: a misspelt one is refused at start, not per input."""
        return known_backend(value)

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``"a, b"`` from the environment becomes ``["a", "b"]``; lists given in Python pass unchanged."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def node_settings(settings: Settings) -> Settings:
    """``settings`` as another machine of a Ray cluster uses them: with its own ``weights/`` unless one was set.

    Settings travel from the machine that starts a batch or a Serve application to every node. A weights
    folder set explicitly (``NEOVASC_WEIGHTS_DIR``) is the same path on every node; the default one is
    the ``weights/`` beside this node's own installation, wherever that is.
    """
    if "weights_dir" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"weights_dir": REPO_ROOT / "weights"})

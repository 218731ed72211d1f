"""Every file format of the held-out family decodes through the pipeline's decoder, to the frames that
were written (exactly for PNG and native DICOM, closely for the lossy codecs), with the DICOM
ultrasound region over the picture when one is written."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.decode import Limits, decode
from models.training.heldout import make_case
from models.training.heldout.formats import encode

LIMITS = Limits(max_bytes=1 << 28, max_frame_pixels=1920 * 1080, max_frames=100, max_total_pixels=10**9)
CLIP = 4  # a 480x640 clip of 4 frames


@pytest.fixture(scope="module")
def case():
    return make_case(CLIP)


# format, frames written, largest mean absolute difference allowed (grey levels)
FORMATS = [
    ("png", 1, 0.0),
    ("jpeg", 1, 6.0),
    ("dicom", 1, 0.0),
    ("dicom", 4, 0.0),
    ("dicom_jpeg", 1, 6.0),
    ("dicom_jpeg", 4, 6.0),
    ("mp4", 4, 8.0),
]


@pytest.mark.parametrize(("fmt", "count", "tolerance"), FORMATS, ids=[f"{f}-{n}" for f, n, _ in FORMATS])
def test_every_format_decodes_to_its_frames(case, fmt: str, count: int, tolerance: float) -> None:
    frames = case.frames[:count]
    for seed in range(8):  # the DICOM region is written in half the cases: find one with it
        rng = np.random.default_rng(seed)
        data, written = encode(frames, fmt, rng, seed=case.seed, picture=case.picture, mm_per_px=0.05)
        if written.get("region", True):
            break
    clip = decode(data, LIMITS, name=f"case.{fmt}")
    decoded = clip.frames
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames).mean() <= tolerance
    if fmt.startswith("dicom"):  # the picture's region, its pixel size in cm
        (region,) = clip.regions
        assert region.bbox == case.picture and region.units_x == region.units_y == 3
        assert region.delta_x == region.delta_y == pytest.approx(0.005)


def test_the_generated_file_decodes(case) -> None:
    clip = decode(case.data, LIMITS, name=case.name)
    assert clip.num_frames == len(case.frames) and (clip.height, clip.width) == case.tendon.shape

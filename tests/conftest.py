"""Shared fixtures: a fixed seed, isolated settings, and hand-built Doppler images with known answers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:  # imported in the fixture: tests/cuda_ops and tests/models run without app's dependencies
    from app.config import Settings

SEED = 20261122


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture
def empty_weights(tmp_path: Path) -> Path:
    """A weights folder whose manifest lists no model (the shipped state until a model is trained)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "MANIFEST.json").write_text('{"format": "neovasc.weights/1", "models": []}')
    return folder


@pytest.fixture
def settings(empty_weights: Path) -> Settings:
    from app.config import Settings

    return Settings(weights_dir=empty_weights, device="cpu")


def grey_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """``(H, W, 3) uint8`` speckle-like grey image: R = G = B everywhere (chroma 0)."""
    grey = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def paint_blobs(image: np.ndarray, blobs: list[tuple[int, int, int, int]], colour=(230, 120, 20)) -> int:
    """Paint filled rectangles (x0, y0, x1, y1) in a Doppler colour; returns the pixels painted."""
    painted = np.zeros(image.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in blobs:
        painted[y0:y1, x0:x1] = True
    image[painted] = colour
    return int(painted.sum())


def mp4_bytes(rng: np.random.Generator, frames: int = 6) -> bytes:
    """A 120x160 MPEG-4 clip at 10 fps: speckle with a Doppler patch growing by 2 rows a frame."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"qscale": "2"}
        for i in range(frames):
            image = grey_background(120, 160, rng)
            image[40 : 44 + 2 * i, 40:60] = (230, 40, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


@pytest.fixture
def doppler_image(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """120x160 grey image with three separate 4x5 colour blobs inside the ROI (20, 30, 120, 90) and one outside.

    Known answers: ROI area 100 * 60 = 6000 px; Doppler inside 3 * 20 = 60 px; CF 0.01; 3 vessels.
    """
    image = grey_background(120, 160, rng)
    inside = [(30, 40, 34, 45), (60, 50, 64, 55), (100, 70, 104, 75)]
    paint_blobs(image, inside)
    paint_blobs(image, [(140, 5, 150, 15)], colour=(20, 40, 220))  # outside the ROI: not counted
    truth = {"roi": (20, 30, 120, 90), "area": 6000, "doppler": 60, "vessels": 3}
    return image, truth


@pytest.fixture
def doppler_png(tmp_path: Path, doppler_image) -> tuple[Path, dict]:
    image, truth = doppler_image
    path = tmp_path / "study-01.png"
    path.write_bytes(png_bytes(image))
    return path, truth

"""Stored overlays show the ultrasound picture only: the screen's text bands, where scanners burn in the
patient's name, ID and the date, are black unless NEOVASC_OVERLAY_SCREEN=full."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest

from app.pipeline.outputs.overlay import black_outside, caption_area
from tests.conftest import png_bytes

from .conftest import keyed_client

TEXT_AT = (150, 30)  # (x, y) of the planted name: right of the caption, in the band above the picture


@pytest.fixture(scope="module")
def screen() -> np.ndarray:
    """A synthetic scanner screen (picture at about x 4-244, y 56-232) with a name and a date in its text bands."""
    from models.training.synth import make_sample

    image = make_sample(321).image.copy()
    cv2.putText(image, "DOE^JANE", TEXT_AT, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    cv2.putText(image, "2026-01-02", (10, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return image


def _overlay(client, image: np.ndarray, **fields) -> tuple[np.ndarray, dict]:
    """POST with overlays=true and a drawn region; the stored overlay (RGB) and the Result."""
    response = client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(image), "image/png")},
        data={"roi": "60,100,200,180", "overlays": "true", **fields},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    png = client.get(result["links"]["overlay.png"]).content
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), result


def _outside(shape: tuple[int, ...], area: dict) -> np.ndarray:
    """``(H, W) bool``: outside the picture and outside the caption drawn in the top-left corner."""
    outside = np.ones(shape[:2], bool)
    outside[area["y0"] : area["y1"], area["x0"] : area["x1"]] = False
    cx0, cy0, cx1, cy1 = caption_area(shape[1], shape[0], ["grade 0 (modified Ohberg)", "CF", "vessels", "frame"])
    outside[cy0:cy1, cx0:cx1] = False
    return outside


def test_a_stored_overlay_is_black_outside_the_picture(client, screen):
    overlay, result = _overlay(client, screen)
    area = result["doppler"]["image_area"]
    assert area["source"] == "pixels" and area["y0"] > TEXT_AT[1] and area["y1"] < 240  # the text is outside
    outside = _outside(overlay.shape, area)
    assert outside.sum() > 10_000 and screen[outside].max() == 255  # the bands held the planted text
    assert overlay[outside].max() == 0
    inside = overlay[area["y0"] : area["y1"], area["x0"] : area["x1"]]
    assert inside.any() and overlay.shape == screen.shape  # the picture keeps its place and pixels


def test_the_full_screen_is_kept_when_asked(keyed_settings, api_key, screen):
    with keyed_client(keyed_settings.model_copy(update={"overlay_screen": "full"}), api_key) as client:
        overlay, result = _overlay(client, screen)
    outside = _outside(overlay.shape, result["doppler"]["image_area"])
    assert np.array_equal(overlay[outside], screen[outside])


def test_a_stored_overlay_video_is_black_outside_the_picture(client, screen):
    frames = [np.clip(screen.astype(np.int16) + k, 0, 255).astype(np.uint8) for k in (-2, 0, 2, 4)]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    response = client.post(
        "/v1/grade",
        files={"file": ("c.mp4", buffer.getvalue(), "video/mp4")},
        data={"roi": "60,100,200,180", "overlays": "true"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    video = client.get(result["links"]["overlay.mp4"]).content
    with av.open(io.BytesIO(video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    outside = _outside(decoded[0].shape, result["doppler"]["image_area"])
    # a lossy video: black within a few levels (the name's white strokes would be near 255)
    assert len(decoded) == 4 and all(np.percentile(frame[outside], 99.9) <= 16 for frame in decoded)


@pytest.mark.parametrize(
    ("picture", "kept"),
    [((2, 1, 5, 3), 6), ((0, 0, 6, 4), 24), ((-3, -3, 2, 9), 8), ((6, 4, 9, 9), 0)],
    ids=["inside", "whole-frame", "past-the-edges", "outside"],
)
def test_black_outside_keeps_only_the_picture(picture, kept):
    frame = np.full((4, 6, 3), 200, np.uint8)
    out = black_outside(frame, picture)
    assert out.shape == frame.shape and int((out[:, :, 0] == 200).sum()) == kept
    assert int((out[:, :, 0] == 0).sum()) == 24 - kept and frame.min() == 200  # the input is left as it is


@pytest.mark.parametrize("view", ["picture", "full"])
def test_batch_overlays_follow_the_overlay_screen_setting(tmp_path, settings, screen, view):
    """``neovasc grade --overlays``: black text bands by default, the whole screen with ``overlay_screen=full``."""
    from app.batch import BatchConfig, Task
    from app.batch.grading import OutputDirs, grade_task
    from app.pipeline import AnalyzeOptions, RoiSpec
    from app.schemas import BatchInfo

    source = tmp_path / "s.png"
    source.write_bytes(png_bytes(screen))
    outputs = OutputDirs(overlays=tmp_path / "overlays")
    config = BatchConfig(settings.model_copy(update={"overlay_screen": view}), outputs)
    task = Task(
        source,
        "s",
        AnalyzeOptions(roi=RoiSpec.from_text("60,100,200,180")),
        BatchInfo(path="s.png", settings_sha256="0" * 64),
    )
    result = grade_task(task, config)
    assert result.ok
    overlay = cv2.cvtColor(cv2.imread(str(outputs.overlays / "s.png")), cv2.COLOR_BGR2RGB)
    outside = _outside(overlay.shape, result.doppler.image_area.model_dump())
    if view == "picture":
        assert overlay[outside].max() == 0
    else:
        assert np.array_equal(overlay[outside], screen[outside])

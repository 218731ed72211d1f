"""Frame -> model input transforms and the letterbox inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.transforms import (
    INPUT_MEAN,
    INPUT_STD,
    InvalidInputError,
    derive_channels,
    letterbox,
    letterbox_geometry,
    preprocess,
    unletterbox,
    unletterbox_array,
    validate_frames,
)

TARGET = (64, 64)


def test_bmode_estimate_suppresses_colour_and_keeps_grey() -> None:
    frames = np.array(
        [[[[120, 120, 120], [255, 0, 0], [255, 200, 0], [0, 90, 255], [30, 30, 30]]]], dtype=np.uint8
    )  # (1, 1, 5, 3): grey tissue, red, yellow and blue Doppler paint, dark tissue
    channels = derive_channels(frames, in_channels=2)
    assert channels.shape == (1, 1, 5, 2)
    assert channels.dtype == np.uint8
    np.testing.assert_array_equal(channels[0, 0, :, 0], [120, 0, 0, 0, 30])  # min(R, G, B)
    np.testing.assert_array_equal(channels[0, 0, :, 1], [0, 255, 255, 255, 0])  # max - min


def test_single_channel_input_is_the_bmode_estimate() -> None:
    frames = np.array([[[[10, 20, 30]]]], dtype=np.uint8)
    np.testing.assert_array_equal(derive_channels(frames, in_channels=1), [[[[10]]]])


def test_unsupported_channel_count_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="in_channels must be 1 or 2"):
        derive_channels(np.zeros((1, 2, 2, 3), np.uint8), in_channels=3)


@pytest.mark.parametrize(
    ("source", "resized", "top", "left"),
    [
        ((64, 64), (64, 64), 0, 0),
        ((32, 32), (64, 64), 0, 0),
        ((1, 1), (64, 64), 0, 0),
        ((32, 64), (32, 64), 16, 0),
        ((37, 53), (45, 64), 9, 0),
        ((200, 7), (64, 2), 0, 31),
        ((7, 200), (2, 64), 31, 0),
        ((1, 1000), (1, 64), 31, 0),
    ],
    ids=["same", "upscale", "1x1", "wide-exact", "37x53", "tall", "wide", "sliver"],
)
def test_letterbox_geometry(source: tuple[int, int], resized: tuple[int, int], top: int, left: int) -> None:
    geom = letterbox_geometry(source, TARGET)
    assert (geom.source_size, geom.target_size) == (source, TARGET)
    assert (geom.resized_size, geom.top, geom.left) == (resized, top, left)


def test_letterbox_pads_with_black_and_places_the_frame() -> None:
    images = np.full((2, 16, 32, 3), 200, dtype=np.uint8)
    boxed, geom = letterbox(images, TARGET)
    assert boxed.shape == (2, 64, 64, 3)
    assert (geom.resized_size, geom.top, geom.left) == ((32, 64), 16, 0)
    assert (boxed[:, 16:48] == 200).all()
    assert (boxed[:, :16] == 0).all() and (boxed[:, 48:] == 0).all()


def test_same_size_mask_round_trips_exactly(rng: np.random.Generator) -> None:
    mask = torch.from_numpy(rng.random((3, 64, 64)) > 0.5)
    geom = letterbox_geometry((64, 64), TARGET)
    back = unletterbox(mask, geom)
    assert back.dtype == torch.bool
    assert torch.equal(back, mask)


@pytest.mark.parametrize(("source", "factor"), [((32, 32), 2), ((16, 32), 2), ((16, 8), 4)])
def test_mask_maps_back_with_the_letterbox_geometry(
    rng: np.random.Generator, source: tuple[int, int], factor: int
) -> None:
    original = rng.random((2, *source)) > 0.5  # (N, H, W)
    geom = letterbox_geometry(source, TARGET)
    assert geom.resized_size == (source[0] * factor, source[1] * factor)
    # Model-space mask: the original scaled up by block repetition, placed at the letterbox offset;
    # padding is set True to show that it is ignored.
    model_space = np.ones((2, *TARGET), dtype=bool)
    rh, rw = geom.resized_size
    block = np.ones((1, factor, factor), dtype=bool)
    model_space[:, geom.top : geom.top + rh, geom.left : geom.left + rw] = np.kron(original, block)
    back = unletterbox(torch.from_numpy(model_space), geom)
    assert back.shape == (2, *source)
    np.testing.assert_array_equal(back.numpy(), original)


def test_float_maps_are_resized_to_the_source() -> None:
    geom = letterbox_geometry((37, 53), TARGET)
    maps = torch.full((2, *TARGET), 0.25)
    back = unletterbox(maps, geom)
    assert back.shape == (2, 37, 53)
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, torch.full((2, 37, 53), 0.25))


def test_unletterbox_rejects_maps_of_the_wrong_size() -> None:
    geom = letterbox_geometry((37, 53), TARGET)
    with pytest.raises(InvalidInputError, match=r"\(N, 64, 64\).*\(2, 32, 32\)"):
        unletterbox(torch.zeros(2, 32, 32), geom)


@pytest.mark.parametrize("source", [(37, 53), (64, 64), (200, 90), (480, 640)])
def test_host_unletterbox_resamples_like_the_torch_one(source: tuple[int, int]) -> None:
    """The CPU path maps probabilities back with OpenCV; it must agree with ``unletterbox`` (up and down)."""
    geom = letterbox_geometry(source, TARGET)
    maps = np.random.default_rng(3).random((2, *TARGET)).astype(np.float32)
    host = unletterbox_array(maps, geom)
    assert host.shape == (2, *source)
    assert host.dtype == np.float32
    np.testing.assert_allclose(host, unletterbox(torch.from_numpy(maps), geom).numpy(), atol=1e-4)
    with pytest.raises(InvalidInputError, match=r"\(N, 64, 64\)"):
        unletterbox_array(maps[:, :32], geom)


def test_preprocess_gives_normalised_channels_first_input() -> None:
    frames = np.full((2, 16, 32, 3), 128, dtype=np.uint8)
    x, geom = preprocess(frames, TARGET, in_channels=2)
    assert x.shape == (2, 2, 64, 64)
    assert x.dtype == torch.float32
    bmode = (128 / 255 - INPUT_MEAN[0]) / INPUT_STD[0]
    pad = (0 - INPUT_MEAN[0]) / INPUT_STD[0]
    torch.testing.assert_close(x[:, 0, 16:48], torch.full((2, 32, 64), bmode))
    torch.testing.assert_close(x[:, 0, :16], torch.full((2, 16, 64), pad))
    torch.testing.assert_close(x[:, 1], torch.zeros(2, 64, 64))  # grey: no colour anywhere
    assert geom.top == 16


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        ([[[[0, 0, 0]]]], "numpy array"),
        (np.zeros((1, 4, 4, 3), np.float32), "dtype float32"),
        (np.zeros((1, 4, 4, 4), np.uint8), r"\(1, 4, 4, 4\)"),
        (np.zeros((4, 4), np.uint8), r"\(4, 4\)"),
        (np.zeros((1, 0, 4, 3), np.uint8), "H, W >= 1"),
    ],
    ids=["list", "float", "rgba", "2d", "empty-height"],
)
def test_invalid_frames_raise_named_value_errors(frames: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        validate_frames(frames)
    assert isinstance(info.value, ValueError)

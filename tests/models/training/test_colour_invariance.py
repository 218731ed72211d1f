"""Painting the Doppler colour out must not move the outline: the ``fill`` input transform, the models that
use it, and training/resuming with it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.training.synth import make_sample
from models.training.train import TrainConfig, train
from models.transforms import derive_channels, fill_colour, normalize, preprocess
from models.unet import MODEL_REGISTRY, UNetArgs, build_model
from models.weights import load_model, save_weights

FILL_ARGS = UNetArgs(base_channels=4, depth=3, input_size=(256, 256), input_transform="fill")
TINY = {"arch": "unet_tiny", "batch_size": 2, "threads": 2, "progress": False}


def _coloured_sample(min_colour: float = 0.05):
    """A synthetic frame whose Doppler colour covers part of the tendon."""
    for seed in range(200):
        sample = make_sample(seed)
        if sample.params.get("colour_in_tendon", 0.0) >= min_colour:
            return sample
    raise AssertionError("no synthetic frame with colour in the tendon")  # pragma: no cover


def _painted_out(frame: np.ndarray) -> np.ndarray:
    """The same frame with its colour replaced by the grey fill from the B-mode around it (grey RGB)."""
    x = normalize(derive_channels(frame[None], 2))
    grey = fill_colour(x)[0, 0].numpy() * 0.5 + 0.5  # back to [0, 1]
    grey = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_fill_keeps_grey_pixels_and_fills_colour_from_around() -> None:
    frame = np.full((1, 40, 50, 3), 90, np.uint8)
    frame[0, :, 25:] = 170  # two grey halves
    frame[0, 10:20, 5:15] = (220, 30, 10)  # colour on the dark half
    frame[0, 10:20, 35:45] = (30, 60, 230)  # colour on the bright half
    frame[0, 30:32, 20:30] = (230, 200, 0)  # a vessel across the edge
    out = fill_colour(normalize(derive_channels(frame, 2)))[0, 0].numpy() * 127.5 + 127.5
    assert out.shape == (40, 50)
    far = np.ones((40, 50), bool)
    far[8:22, 3:17] = far[8:22, 33:47] = far[28:34, 18:32] = False
    np.testing.assert_allclose(out[far], frame[0, ..., 0][far], atol=0.01)  # grey untouched
    # each hole takes the grey of its own side (a pyramid fill: nearer pixels weigh most)
    assert out[10:20, 5:15].max() < 110 and out[10:20, 35:45].min() > 150
    assert out[30:32, 20:30].min() >= 90 and out[30:32, 20:30].max() <= 170
    all_colour = normalize(derive_channels(np.full((1, 7, 9, 3), (255, 0, 0), np.uint8), 2))
    assert torch.isfinite(fill_colour(all_colour)).all()  # nothing to fill from: flat mid grey


def test_painting_the_colour_out_gives_the_same_model_input_and_outline() -> None:
    sample = _coloured_sample()
    painted_out = _painted_out(sample.image)
    assert (painted_out.max(axis=2) == painted_out.min(axis=2)).all()  # no colour left
    model = build_model("unet_small", FILL_ARGS).eval()
    with torch.no_grad():
        x_colour, _ = preprocess(sample.image[None], FILL_ARGS.input_size, 2)
        x_grey, _ = preprocess(painted_out[None], FILL_ARGS.input_size, 2)
        a, b = fill_colour(x_colour), fill_colour(x_grey)
        assert (a - b).abs().max() < 1.5 / 127.5  # the same input up to uint8 rounding
        out_colour, out_grey = torch.sigmoid(model(x_colour)), torch.sigmoid(model(x_grey))
    assert (out_colour - out_grey).abs().max() < 0.02
    masks = out_colour > 0.5, out_grey > 0.5
    union = (masks[0] | masks[1]).sum().item()
    assert union == 0 or (masks[0] & masks[1]).sum().item() / union > 0.98


def test_a_minmax_model_sees_the_colour_a_fill_model_does_not() -> None:
    sample = _coloured_sample()
    painted_out = _painted_out(sample.image)
    x_colour, _ = preprocess(sample.image[None], (256, 256), 2)
    x_grey, _ = preprocess(painted_out[None], (256, 256), 2)
    assert (x_colour[:, 1] - x_grey[:, 1]).abs().max() > 0.5  # the presence channel hands the colour over


def test_fill_args_round_trip_and_old_args_read_unchanged(tmp_path: Path) -> None:
    assert MODEL_REGISTRY["unet_small_fill"]().input_transform == "fill"
    assert "input_transform" not in UNetArgs().to_dict()  # manifests of older models read the same
    assert UNetArgs(**FILL_ARGS.to_dict()) == FILL_ARGS
    with pytest.raises(ValueError, match="input_transform"):
        UNetArgs(input_transform="rgb")
    with pytest.raises(ValueError, match="in_channels=2"):
        UNetArgs(in_channels=1, input_transform="fill")
    model = build_model("unet_small", FILL_ARGS).eval()
    assert model.stem[0].in_channels == 1
    save_weights(model, FILL_ARGS, tmp_path, "fill", architecture="unet_small", half=True)
    loaded, entry = load_model(tmp_path)
    assert entry.args == FILL_ARGS and loaded.args.input_transform == "fill"


def test_fine_tuning_into_the_fill_transform_and_resuming(tmp_path: Path) -> None:
    base = TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=4, val_count=2, out=str(tmp_path / "a"))
    base = replace(base, export=str(tmp_path / "w"), name="minmax")
    train(base)
    source, _ = load_model(tmp_path / "w")
    cfg = replace(base, init=f"{tmp_path / 'w'}:minmax", input_transform="fill", out=str(tmp_path / "b"), export=None)
    train(cfg)
    tuned, entry = load_model(tmp_path / "b", "last")
    assert entry.args.input_transform == "fill" and tuned.stem[0].weight.shape[1] == 1
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    metrics = train(replace(cfg, epochs=2, resume=True))  # continues after epoch 1
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert source.args.input_transform == "minmax"

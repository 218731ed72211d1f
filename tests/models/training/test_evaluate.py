"""``python -m models.training.evaluate``: Dice of one model or an ensemble on a labelled folder, and the
scoring helpers training shares with it (Dice, small-region and largest-region post-processing, flip averaging)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.training.data import letterbox_labels
from models.training.evaluate import (
    dice_per_class,
    global_dice_per_class,
    keep_largest_component,
    labels_from,
    main,
    resize_probabilities,
    scores,
)
from models.training.train import TrainConfig, train

TINY = {"arch": "unet_tiny", "batch_size": 2, "threads": 2, "progress": False}


def _folder(root: Path, rng: np.random.Generator, cases: int = 3) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(cases):
        grey = rng.integers(0, 255, (64, 64), dtype=np.uint8)
        label = np.zeros((64, 64), np.uint8)
        label[10:30, 10:40] = 1
        label[40:60, 30:60] = 2
        grey[label == 2] = 0
        Image.fromarray(grey).save(root / "images" / f"{i}.png")
        Image.fromarray(label).save(root / "masks" / f"{i}.png")
    return root


def test_scores_per_image_and_pooled() -> None:
    truth = np.zeros((2, 4, 4), np.uint8)
    truth[0, :2] = 1  # 8 px in image 0, none in image 1
    pred = np.zeros_like(truth)
    pred[0, :1] = 1  # 4 of the 8
    pred[1, 0, 0] = 1  # a false positive where the truth has none: that image scores 0
    out = scores(pred, truth, classes=1, pooled=True)
    assert out["dice_per_class"]["1"] == pytest.approx((2 * 4 / 12 + 0.0) / 2)
    assert out["global_dice_per_class"]["1"] == pytest.approx(2 * 4 / 13)
    assert global_dice_per_class(pred, truth, 2)[2] is None


def test_evaluate_cli_scores_one_model_and_an_ensemble(tmp_path: Path, rng: np.random.Generator, capsys) -> None:
    data = _folder(tmp_path / "data", rng)
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"run{seed}"
        train(TrainConfig(**TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=2, seed=seed, out=str(out)))
        runs.append(str(out))
    assert main(["--test", str(data), "--weights", runs[0], "--per-image"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert set(single["dice_per_class"]) == {"1", "2"} and len(single["per_image"]) == 3
    assert main(["--test", str(data), "--weights", *runs, f"{runs[0]}:last", "--tta", "--min-component", "0.01"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both["tta"] is True and set(both["post"]) == {"dice", "dice_per_class", "global_dice_per_class"}
    for value in both["global_dice_per_class"].values():
        assert value is None or 0.0 <= value <= 1.0
    assert main(["--test", str(data), "--weights", runs[0], "--size", "64x64"]) == 0  # probabilities resized
    assert json.loads(capsys.readouterr().out)["size"] == "64x64"
    assert main(["--test", str(data), "--weights", runs[0], "--size", "64x32"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "SizeMismatch"


def test_resized_probabilities_line_up_with_labels_letterboxed_to_the_grid() -> None:
    truth = np.zeros((30, 60), np.uint8)  # a wide image: letterboxed with bars above and below
    truth[8:20, 10:35], truth[12:28, 40:58] = 1, 2
    coarse, fine = letterbox_labels(truth, (32, 32)), letterbox_labels(truth, (128, 128))
    probs = np.eye(3, dtype=np.float32)[coarse].transpose(2, 0, 1)[None]  # (1, 3, 32, 32), one-hot
    assert resize_probabilities(probs, (32, 32)) is probs
    up = resize_probabilities(probs, (128, 128))
    assert up.shape == (1, 3, 128, 128)
    np.testing.assert_allclose(up.sum(1), 1.0, atol=1e-5)  # still a distribution per pixel
    dice = scores(labels_from(up), fine[None], 2)["dice_per_class"]
    assert dice["1"] > 0.9 and dice["2"] > 0.9  # the structures land where the finer labels put them
    shifted = scores(labels_from(np.roll(up, 8, axis=3)), fine[None], 2)["dice_per_class"]
    assert shifted["1"] < dice["1"] - 0.1  # a misaligned map would be caught


@pytest.mark.parametrize("size", ["0x64", "64", "9000x9000"])
def test_evaluate_cli_refuses_a_bad_size(size: str, capsys) -> None:
    assert main(["--test", "nowhere", "--weights", "nowhere", "--size", size]) == 2
    assert "--size" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--tta"], "--tta"), (["--min-component", "0.01"], "--min-component"), (["--size", "128x128"], "--size")],
)
def test_evaluate_heldout_refuses_options_that_change_the_predictor(flags: list[str], named: str, capsys) -> None:
    """``--heldout`` runs the shipped predictor: flip averaging, region dropping and another grid would not be
    scored, so they are refused rather than silently ignored."""
    assert main(["--heldout", "--weights", "nowhere", *flags]) == 2
    assert named in capsys.readouterr().err


def test_evaluate_cli_reports_a_missing_model_as_a_json_error(tmp_path: Path, rng: np.random.Generator, capsys) -> None:
    data = _folder(tmp_path / "data", rng, cases=1)
    assert main(["--test", str(data), "--weights", str(tmp_path / "nowhere")]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "ModelNotFoundError"


def test_dice_per_class() -> None:
    truth = np.zeros((2, 4, 4), np.uint8)
    truth[:, :2] = 1
    pred = truth.copy()
    pred[1] = 0
    scores = dice_per_class(pred, truth, classes=2)
    assert scores[1] == pytest.approx(0.5) and scores[2] is None


def test_drop_small_components_keeps_large_regions_per_class() -> None:
    from models.training.evaluate import drop_small_components

    pred = np.zeros((1, 20, 20), np.uint8)
    pred[0, 2:10, 2:10] = 1  # 64 px: kept
    pred[0, 15:17, 15:17] = 1  # 4 px: dropped
    pred[0, 12:14, 2:4] = 2  # 4 px of another class: dropped
    out = drop_small_components(pred, classes=2, min_fraction=0.05)  # 20 px
    assert (out[0, 2:10, 2:10] == 1).all() and out.sum() == 64
    assert (drop_small_components(pred, 2, 0.0) == pred).all()
    assert pred[0, 15, 15] == 1  # the input is not changed


def test_keep_largest_component_per_class() -> None:
    pred = np.zeros((1, 10, 10), np.uint8)
    pred[0, 0:3, 0:3] = 1  # 9 px
    pred[0, 6:8, 6:8] = 1  # 4 px: dropped
    pred[0, 0:2, 7:9] = 2  # class 2 untouched when not listed
    pred[0, 8, 0] = 2
    out = keep_largest_component(pred, [1])
    assert (out == 1).sum() == 9 and (out == 2).sum() == 5
    out = keep_largest_component(pred, [1, 2])
    assert (out == 2).sum() == 4 and out[0, 8, 0] == 0


def test_flip_averaging_is_mirror_symmetric_on_a_mirror_symmetric_image() -> None:
    import torch

    from models.training.evaluate import predict_labels
    from models.unet import build_model

    torch.manual_seed(0)
    model = build_model("unet_tiny")
    half = np.random.default_rng(0).integers(0, 256, (2, 128, 64, 1), dtype=np.uint8).repeat(3, axis=3)
    sym = np.concatenate([half, half[:, :, ::-1]], axis=2)  # (2, 128, 128, 3), mirror-symmetric
    plain, tta = predict_labels(model, sym), predict_labels(model, sym, tta=True)
    assert plain.shape == tta.shape == (2, 128, 128)
    # A mirror-symmetric image gives mirror-symmetric averaged probabilities.
    assert (tta == tta[:, :, ::-1]).mean() > 0.99
    assert plain.dtype == np.uint8

"""Training: a few steps on tiny data, dataset folders, multi-class heads and fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.data import DatasetLayoutError, find_pairs, load_folder
from models.evaluate import dice_per_class
from models.train import TrainConfig, train
from models.weights import load_model, read_manifest

# unet_tiny: 128x128 input, 4 base channels; a step takes tens of milliseconds on two cores.
TINY = {"arch": "unet_tiny", "batch_size": 2, "threads": 2, "progress": False}


def _write_case(folder: Path, case: str, rng: np.random.Generator, *, nnunet: bool) -> None:
    images, labels = ("imagesTr", "labelsTr") if nnunet else ("images", "masks")
    (folder / images).mkdir(parents=True, exist_ok=True)
    (folder / labels).mkdir(parents=True, exist_ok=True)
    grey = rng.integers(0, 255, (96, 120), dtype=np.uint8)
    label = np.zeros((96, 120), np.uint8)
    label[20:40, 10:60], label[60:80, 70:110] = 1, 2
    Image.fromarray(grey).save(folder / images / (f"{case}_0000.png" if nnunet else f"{case}.png"))
    palette = Image.fromarray(label, mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0])
    palette.save(folder / labels / f"{case}.png")


def test_dice_per_class() -> None:
    truth = np.zeros((2, 4, 4), np.uint8)
    truth[:, :2] = 1
    pred = truth.copy()
    pred[1] = 0
    scores = dice_per_class(pred, truth, classes=2)
    assert scores[1] == pytest.approx(0.5) and scores[2] is None


def test_nnunet_layout_is_read(tmp_path: Path, rng: np.random.Generator) -> None:
    for case in ("a", "b"):
        _write_case(tmp_path, case, rng, nnunet=True)
    assert [p[0].name for p in find_pairs(tmp_path)] == ["a_0000.png", "b_0000.png"]
    images, labels = load_folder(tmp_path, (64, 64))
    assert images.shape == (2, 64, 64, 3) and labels.shape == (2, 64, 64)
    assert set(np.unique(labels)) == {0, 1, 2}  # palette indices, not palette colours
    assert (images[..., 0] == images[..., 1]).all()  # grey replicated to RGB


def test_missing_label_is_reported(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_case(tmp_path, "a", rng, nnunet=False)
    (tmp_path / "masks" / "a.png").unlink()
    with pytest.raises(DatasetLayoutError, match="has no label"):
        find_pairs(tmp_path)
    with pytest.raises(DatasetLayoutError, match="holds neither"):
        find_pairs(tmp_path / "nowhere")


def test_synthetic_training_smoke(tmp_path: Path) -> None:
    cfg = TrainConfig(
        **TINY, epochs=2, steps_per_epoch=2, synth_count=6, val_count=3, test="synth-heldout", test_count=3,
        out=str(tmp_path / "run"), export=str(tmp_path / "weights"), name="tendon_tiny",
    )  # fmt: skip
    metrics = train(cfg)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0.0 <= metrics["history"][-1]["val"]["dice"] <= 1.0
    assert 0.0 <= metrics["test"]["dice"] <= 1.0
    run = tmp_path / "run"
    assert {"config.json", "metrics.json", "best.safetensors", "last.safetensors"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["arch"] == "unet_tiny"
    (entry,) = read_manifest(tmp_path / "weights")
    assert entry.name == "tendon_tiny" and entry.data["generator"].startswith("neovasc.synth/")
    assert entry.metrics["test"]["dice"] == metrics["test"]["dice"]


def test_multiclass_folder_training_and_fine_tuning(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    for case in ("a", "b", "c", "d"):
        _write_case(data, case, rng, nnunet=True)
    first = TrainConfig(
        **TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=2, out=str(tmp_path / "run1"),
        export=str(tmp_path / "w"), name="two_class",
    )  # fmt: skip
    metrics = train(first)
    assert set(metrics["history"][0]["val"]["dice_per_class"]) == {"1", "2"}
    model, _ = load_model(tmp_path / "w")
    assert model.args.out_channels == 3  # background + 2 classes
    tuned = TrainConfig(
        **TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=1, out=str(tmp_path / "run2"),
        init=str(tmp_path / "w"),
    )  # fmt: skip
    train(tuned)
    loaded, entry = load_model(tmp_path / "run2", "last")
    assert loaded.args == model.args and entry.training["init"] == str(tmp_path / "w")


def test_training_on_every_image_keeps_the_last_epoch(tmp_path: Path, rng: np.random.Generator) -> None:
    from models.train import main

    data = tmp_path / "data"
    for case in ("a", "b", "c"):
        _write_case(data, case, rng, nnunet=False)
    argv = ["--data", str(data), "--classes", "2", "--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "2"]
    assert main([*argv, "--arch", "unet_tiny", "--val-fraction", "0", "--quiet", "--out", str(tmp_path / "r")]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["best_val"] is None and [h["val"] for h in metrics["history"]] == [None, None]
    assert {p.name for p in (tmp_path / "r").glob("*.safetensors")} == {"last.safetensors"}
    assert load_model(tmp_path / "r", None, "cpu")[1].name == "last"


def test_fine_tuning_refuses_a_model_with_other_classes(tmp_path: Path) -> None:
    base = TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "r"))
    train(base)
    with pytest.raises(ValueError, match="output channels"):
        train(TrainConfig(**TINY, classes=2, init=str(tmp_path / "r"), out=str(tmp_path / "r2")))


def test_new_head_fine_tunes_a_model_trained_for_other_classes(tmp_path: Path, rng: np.random.Generator) -> None:
    train(TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "r")))
    source, _ = load_model(tmp_path / "r", "best", "cpu")
    data = tmp_path / "data"
    for case in ("a", "b", "c"):
        _write_case(data, case, rng, nnunet=False)
    cfg = TrainConfig(
        **TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=1, lr=0.0, init=str(tmp_path / "r"),
        new_head=True, out=str(tmp_path / "r2"),
    )  # fmt: skip
    train(cfg)
    tuned, _ = load_model(tmp_path / "r2", "last", "cpu")
    assert tuned.args.out_channels == 3 and tuned.head.weight.shape[0] == 3
    # lr 0: the features are the source model's, only the output layer is new
    assert torch.equal(tuned.stem[0].weight, source.stem[0].weight)


def test_input_size_override_from_scratch_and_for_fine_tuning(tmp_path: Path) -> None:
    first = train(TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "a")))
    assert first["best_val"] is not None
    cfg = TrainConfig(
        **TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "b"),
        init=str(tmp_path / "a"), input_size="64x96",
    )  # fmt: skip
    train(cfg)
    model, _ = load_model(tmp_path / "b", "best", "cpu")
    assert model.args.input_size == (64, 96)


def test_bad_input_size_is_a_usage_error(capsys) -> None:
    from models.train import main

    assert main(["--input-size", "big", "--arch", "unet_tiny"]) == 2
    assert "HxW" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["basic", "affine", "strong"])
def test_augmentations_keep_labels_aligned_and_grey_grey(kind: str) -> None:
    from models.augment import augment

    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (6, 48, 48, 1), dtype=np.uint8).repeat(3, axis=3)
    grey[:, 16:32, 16:32] = 255  # a bright square exactly where label 1 is
    labels = np.zeros((6, 48, 48), np.uint8)
    labels[:, 16:32, 16:32] = 1
    images, out = augment(np.random.default_rng(0), grey, labels, kind)
    again, _ = augment(np.random.default_rng(0), grey, labels, kind)
    assert images.dtype == np.uint8 and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert (images == again).all()  # deterministic by seed
    assert (images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all()
    inside = images[..., 0][out == 1].astype(float).mean()
    outside = images[..., 0][out == 0].astype(float).mean()
    assert inside > outside + 40  # the labelled square moved with its pixels


def test_drop_small_components_keeps_large_regions_per_class() -> None:
    from models.evaluate import drop_small_components

    pred = np.zeros((1, 20, 20), np.uint8)
    pred[0, 2:10, 2:10] = 1  # 64 px: kept
    pred[0, 15:17, 15:17] = 1  # 4 px: dropped
    pred[0, 12:14, 2:4] = 2  # 4 px of another class: dropped
    out = drop_small_components(pred, classes=2, min_fraction=0.05)  # 20 px
    assert (out[0, 2:10, 2:10] == 1).all() and out.sum() == 64
    assert (drop_small_components(pred, 2, 0.0) == pred).all()
    assert pred[0, 15, 15] == 1  # the input is not changed


def test_ema_tta_and_post_scores_are_reported(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    for case in ("a", "b", "c", "d"):
        _write_case(data, case, rng, nnunet=False)
    cfg = TrainConfig(
        **TINY, data=str(data), test=str(data), classes=2, epochs=2, steps_per_epoch=2, ema=0.9, tta=True,
        min_component=0.01, out=str(tmp_path / "run"),
    )  # fmt: skip
    metrics = train(cfg)
    val = metrics["history"][-1]["val"]
    assert set(val) == {"dice", "dice_per_class", "tta", "post"}
    assert set(metrics["test"]["tta"]["dice_per_class"]) == {"1", "2"}
    model, entry = load_model(tmp_path / "run", "best")
    assert entry.training["ema"] == 0.9
    assert "n_averaged" not in {name for name, _ in model.named_buffers()}  # the averaged network, not its wrapper


def test_flip_averaging_is_mirror_symmetric_on_a_mirror_symmetric_image() -> None:
    import torch

    from models.evaluate import predict_labels
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


@pytest.mark.parametrize("argv", [["--ema", "1.5"], ["--min-component", "-0.1"], ["--val-fraction", "1"]])
def test_bad_ema_or_min_component_is_a_usage_error(argv: list[str], capsys) -> None:
    from models.train import main

    assert main([*argv, "--arch", "unet_tiny"]) == 2
    assert argv[0] in capsys.readouterr().err


def test_per_image_dice_loss_charges_a_structure_missed_in_one_image() -> None:
    import torch

    from models.train import _loss

    target = torch.zeros((2, 8, 8), dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    logits = torch.full((2, 2, 8, 8), -10.0)
    logits[:, 0] = 10.0  # background everywhere ...
    logits[0, 1, 2:6, 2:6], logits[0, 0, 2:6, 2:6] = 10.0, -10.0  # ... but image 0 is right
    batch, image = _loss(logits, target, dice="batch"), _loss(logits, target, dice="image")
    # Pooled, the batch's Dice is ~2/3; per image it is 1 and 0: the missed image costs its whole term.
    assert float(image) > float(batch) + 0.1

"""Training: a few steps on tiny data (synthetic frames and labelled folders), multi-class heads, fine-tuning
and the usage errors of ``neovasc train``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models import build_model
from models.training.train import TrainConfig, train
from models.weights import load_model, read_manifest

# unet_tiny: 128x128 input, 4 base channels; a step takes tens of milliseconds on two cores.
TINY = {"arch": "unet_tiny", "batch_size": 2, "threads": 2, "progress": False}


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


def test_multiclass_folder_training_and_fine_tuning(
    tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]
) -> None:
    data = tmp_path / "data"
    for case in ("a", "b", "c", "d"):
        write_case(data, case, rng, nnunet=True)
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


def test_training_on_every_image_keeps_the_last_epoch(
    tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]
) -> None:
    from models.training.train import main

    data = tmp_path / "data"
    for case in ("a", "b", "c"):
        write_case(data, case, rng, nnunet=False)
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


def test_new_head_fine_tunes_a_model_trained_for_other_classes(
    tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]
) -> None:
    train(TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "r")))
    source, _ = load_model(tmp_path / "r", "best", "cpu")
    data = tmp_path / "data"
    for case in ("a", "b", "c"):
        write_case(data, case, rng, nnunet=False)
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
    from models.training.train import main

    assert main(["--input-size", "big", "--arch", "unet_tiny"]) == 2
    assert "HxW" in capsys.readouterr().err


def test_ema_tta_and_post_scores_are_reported(
    tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]
) -> None:
    data = tmp_path / "data"
    for case in ("a", "b", "c", "d"):
        write_case(data, case, rng, nnunet=False)
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


@pytest.mark.parametrize(
    "argv",
    [["--ema", "1.5"], ["--min-component", "-0.1"], ["--val-fraction", "1"], ["--dome-share", "1"],
     ["--no-tendon-share", "-0.1"]],
)  # fmt: skip
def test_bad_ema_or_min_component_is_a_usage_error(argv: list[str], capsys) -> None:
    from models.training.train import main

    assert main([*argv, "--arch", "unet_tiny"]) == 2
    assert argv[0] in capsys.readouterr().err


def test_per_image_dice_loss_charges_a_structure_missed_in_one_image() -> None:
    import torch

    from models.training.train import _loss

    target = torch.zeros((2, 8, 8), dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    logits = torch.full((2, 2, 8, 8), -10.0)
    logits[:, 0] = 10.0  # background everywhere ...
    logits[0, 1, 2:6, 2:6], logits[0, 0, 2:6, 2:6] = 10.0, -10.0  # ... but image 0 is right
    batch, image = _loss(logits, target, dice="batch"), _loss(logits, target, dice="image")
    # Pooled, the batch's Dice is ~2/3; per image it is 1 and 0: the missed image costs its whole term.
    assert float(image) > float(batch) + 0.1


def test_fp_weight_half_is_the_soft_dice_and_more_charges_spill() -> None:
    import torch

    from models.training.train import _loss

    torch.manual_seed(0)
    logits, target = torch.randn((3, 1, 16, 16)), (torch.rand((3, 16, 16)) > 0.6).long()
    prob, t = torch.sigmoid(logits), target[:, None].float()
    inter = (prob * t).sum((2, 3))
    dice = (2 * inter + 1) / (prob.sum((2, 3)) + t.sum((2, 3)) + 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t)
    assert torch.allclose(_loss(logits, target, dice="image", fp_weight=0.5), bce + (1 - dice).mean(), atol=1e-6)

    truth = torch.zeros((1, 16, 16), dtype=torch.long)
    truth[0, 4:12, 4:12] = 1
    spill, short = torch.full((1, 1, 16, 16), -10.0), torch.full((1, 1, 16, 16), -10.0)
    spill[0, 0, 4:12, 2:14] = 10.0  # 32 pixels too many
    short[0, 0, 4:12, 6:10] = 10.0  # 32 pixels missing
    same = [float(_loss(x, truth, dice="image")) for x in (spill, short)]
    heavy = [float(_loss(x, truth, dice="image", fp_weight=0.7)) for x in (spill, short)]
    assert heavy[0] - heavy[1] > same[0] - same[1] + 0.05  # the spill now costs more than the miss


def test_fp_weight_outside_zero_one_is_a_usage_error(capsys) -> None:
    from models.training.train import main as train_main

    assert train_main(["--data", "nowhere", "--quiet", "--fp-weight", "1.0"]) == 2
    assert "--fp-weight" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--folds", "1"], ["--folds", "5", "--fold", "5"], ["--folds", "-2"]])
def test_bad_folds_are_a_usage_error(argv: list[str], capsys) -> None:
    from models.training.train import main as train_main

    assert train_main(["--data", "nowhere", "--quiet", *argv]) == 2
    assert "--folds" in capsys.readouterr().err


def test_picture_view_and_kept_epochs(tmp_path: Path) -> None:
    cfg = TrainConfig(
        **TINY, epochs=2, steps_per_epoch=1, synth_count=4, val_count=2, input_view="picture", keep_epochs=True,
        out=str(tmp_path / "run"),
    )  # fmt: skip
    train(cfg)
    names = {entry.name for entry in read_manifest(tmp_path / "run")}
    assert {"best", "last", "epoch01", "epoch02"} <= names
    model, _ = load_model(tmp_path / "run", "epoch01", "cpu")
    assert model.args.input_view == "picture"  # recorded, so the predictor crops to the picture


def test_fine_tuning_leaves_out_the_presence_head_of_the_init_model(tmp_path: Path, capsys) -> None:
    """A presence head is fitted to the network's features; after fine-tuning it must be fitted again."""
    from dataclasses import replace

    from models import UNet, save_weights
    from models.unet import build_unet_tiny

    judged = UNet(replace(build_unet_tiny(), presence=True)).eval()
    save_weights(judged, judged.args, tmp_path / "w", "judged", architecture="unet_tiny")
    tuned = TrainConfig(
        **TINY, epochs=1, steps_per_epoch=1, synth_count=4, val_count=2, out=str(tmp_path / "run"),
        init=str(tmp_path / "w"),
    )  # fmt: skip
    train(tuned)
    loaded, _ = load_model(tmp_path / "run", "last")
    assert not loaded.args.presence and loaded.presence is None
    assert "python -m models.training.presence" in capsys.readouterr().err


def test_fine_tuning_can_add_context_blocks(tmp_path: Path) -> None:
    first = TrainConfig(**TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "a"))
    train(first)
    tuned = TrainConfig(
        **TINY, epochs=1, steps_per_epoch=1, synth_count=2, val_count=2, out=str(tmp_path / "b"),
        init=str(tmp_path / "a"), context=1,
    )  # fmt: skip
    train(tuned)
    model, _ = load_model(tmp_path / "b", "last", "cpu")
    assert model.args.context == 1 and len(model.context) == 1


def test_added_context_blocks_start_without_effect() -> None:
    from dataclasses import replace

    from models.unet import build_unet_tiny

    torch.manual_seed(0)
    source = build_model("unet_tiny").eval()
    grown = source.rebuilt(replace(build_unet_tiny(), context=2))  # what --context does to an --init model
    assert len(grown.context) == 2 and not grown.training
    x = torch.randn(2, 2, 128, 128)
    with torch.inference_mode():
        assert torch.equal(grown(x), source(x))
    assert torch.equal(grown.stem[0].weight, source.stem[0].weight)


def test_negative_context_is_a_usage_error(capsys) -> None:
    from models.training.train import main

    assert main(["--context", "-1", "--arch", "unet_tiny"]) == 2
    assert "--context" in capsys.readouterr().err


def test_picture_generator_shares_draw_part_of_the_training_frames() -> None:
    """``--beamsim-share`` and ``--scanline-share``: those shares of ``--synth-count`` come from
    models.training.beamsim and models.training.scanline, in that order after the first generator's frames,
    which are those of a run without them (the same seeds); validation stays on the first generator."""
    from dataclasses import replace

    from models.training import beamsim, scanline, synth
    from models.training.train import _data, data_info

    cfg = TrainConfig(
        **TINY, synth_count=6, val_count=2, input_view="picture", beamsim_share=1 / 3, scanline_share=1 / 3
    )
    data = _data(cfg, (64, 64), "picture")
    ranges = replace(synth.TRAIN_RANGES, size=(64, 64), view="picture")
    parts = [
        synth.make_dataset(2, cfg.seed, ranges),
        beamsim.make_dataset(2, cfg.seed, (64, 64)),
        scanline.make_dataset(2, cfg.seed, (64, 64)),
    ]
    np.testing.assert_array_equal(data["train"][0], np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(data["train"][1], np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(data["val"][0], synth.make_dataset(2, cfg.seed + 1, ranges)[0])
    assert data_info(cfg)["beamsim"] == {"generator": beamsim.GENERATOR_VERSION, "seed": 0, "train_count": 2}
    assert data_info(cfg)["scanline"] == {"generator": scanline.GENERATOR_VERSION, "seed": 0, "train_count": 2}
    only_beamsim = replace(cfg, synth_count=4, beamsim_share=0.5, scanline_share=0.0)
    assert data_info(only_beamsim)["scanline"] is None
    np.testing.assert_array_equal(_data(only_beamsim, (64, 64), "picture")["train"][0][2:], parts[1][0])
    with pytest.raises(ValueError, match="picture"):
        _data(cfg, (64, 64), "screen")


def test_picture_generator_counts_never_exceed_the_synthetic_count() -> None:
    from models.training.train import picture_counts

    base = TrainConfig(**TINY, input_view="picture")
    assert picture_counts(replace(base, synth_count=3, beamsim_share=0.5, scanline_share=0.5)) == {
        "beamsim": 2,
        "scanline": 1,
    }
    assert picture_counts(replace(base, synth_count=100, beamsim_share=0.25, scanline_share=0.25)) == {
        "beamsim": 25,
        "scanline": 25,
    }
    assert picture_counts(replace(base, synth_count=100)) == {}


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--beamsim-share", "1.5"], "--beamsim-share"),
        (["--beamsim-share", "0.5", "--input-view", "screen"], "--beamsim-share"),
        (["--scanline-share", "-0.1"], "--scanline-share"),
        (["--scanline-share", "0.5", "--data", "some/folder"], "--scanline-share"),
        (["--beamsim-share", "0.6", "--scanline-share", "0.6"], "--scanline-share"),
    ],
)
def test_bad_picture_generator_share_is_a_usage_error(argv: list[str], named: str, capsys) -> None:
    from models.training.train import main

    assert main([*argv, "--arch", "unet_tiny"]) == 2
    assert named in capsys.readouterr().err

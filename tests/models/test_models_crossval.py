"""Cross-validation: fixed folds, out-of-fold scoring, the largest-region post-processing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.crossval import choose_keep_largest, load_folds, main
from models.data import split_indices
from models.evaluate import keep_largest_component
from models.train import TrainConfig, train

TINY = {"arch": "unet_tiny", "batch_size": 2, "threads": 2, "progress": False}


def _folder(root: Path, rng: np.random.Generator, cases: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(cases):
        grey = rng.integers(0, 255, (64, 64), dtype=np.uint8)
        label = np.zeros((64, 64), np.uint8)
        label[10:30, 10:40], label[40:60, 30:60] = 1, 2
        Image.fromarray(grey).save(root / "images" / f"{i}.png")
        Image.fromarray(label).save(root / "masks" / f"{i}.png")
    return root


def _two_fold_runs(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, list[str]]:
    """A tiny folder and the two runs of its 2-fold cross-validation (one step each)."""
    data = _folder(tmp_path / "data", rng, cases=4)
    runs = []
    for fold in (0, 1):
        out = tmp_path / f"f{fold}"
        cfg = TrainConfig(
            **TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=1, folds=2, fold=fold, out=str(out)
        )
        train(cfg)
        runs.append(str(out))
    return data, runs


def test_folds_partition_the_images_alike_for_every_seed() -> None:
    splits = [split_indices(204, seed=k, val_fraction=0.15, folds=5, fold=k) for k in range(5)]
    vals = [v for _, v in splits]
    assert sorted(np.concatenate(vals).tolist()) == list(range(204))  # each image validated exactly once
    assert [len(v) for v in vals] == [41, 41, 41, 41, 40]
    for train_idx, val_idx in splits:
        assert np.intersect1d(train_idx, val_idx).size == 0 and train_idx.size + val_idx.size == 204
    again = split_indices(204, seed=99, val_fraction=0.15, folds=5, fold=2)[1]
    np.testing.assert_array_equal(again, vals[2])  # --seed does not move the folds
    # without --folds, the seed picks a 15 % share as before
    train_idx, val_idx = split_indices(204, seed=3, val_fraction=0.15)
    assert val_idx.size == 31 and train_idx.size == 173


@pytest.mark.parametrize("argv", [["--folds", "1"], ["--folds", "5", "--fold", "5"], ["--folds", "-2"]])
def test_bad_folds_are_a_usage_error(argv: list[str], capsys) -> None:
    from models.train import main as train_main

    assert train_main(["--data", "nowhere", "--quiet", *argv]) == 2
    assert "--folds" in capsys.readouterr().err


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


def test_choose_keep_largest_only_where_it_helps() -> None:
    truth = np.zeros((2, 10, 10), np.uint8)
    truth[:, 0:4, 0:4] = 1
    truth[:, 6:9, 6:9] = 2
    pred = truth.copy()
    pred[:, 0, 9] = 1  # a stray class-1 pixel: dropping it helps
    pred[0, 6:9, 0:2] = 2  # class 2 split in two where the truth holds ...
    truth[0, 6:9, 0:3] = 2  # ... two regions: keeping the largest hurts
    chosen, oof = choose_keep_largest(pred, truth, classes=2)
    assert chosen == [1]
    assert oof["largest"]["dice_per_class"]["1"] == 1.0 > oof["plain"]["dice_per_class"]["1"]


def test_cross_validation_cli_scores_out_of_fold_and_the_test_ensemble(
    tmp_path: Path, rng: np.random.Generator, capsys
) -> None:
    data, runs = _two_fold_runs(tmp_path, rng)
    assert main(["--runs", *runs, "--test", str(data), "--tta"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["folds"] == [0, 1] and result["oof_images"] == 4 and result["tta"] is True
    assert set(result["oof"]) == {"plain", "largest"} and set(result["test"]) == {"folder", "plain", "post"}
    assert set(result["keep_largest"]) <= {1, 2}
    for key in ("plain", "post"):
        for value in result["test"][key]["dice_per_class"].values():
            assert value is None or 0.0 <= value <= 1.0
    # scored on another grid of the same aspect ratio: the labels are letterboxed to it, the models'
    # probabilities resized; the models' own grid given as --size scores exactly as the default
    size = result["size"]
    assert result["grid"] == size
    assert main(["--runs", *runs, "--test", str(data), "--tta", "--size", size]) == 0
    assert json.loads(capsys.readouterr().out)["test"] == result["test"]
    h, w = (int(v) for v in size.split("x"))
    assert main(["--runs", *runs, "--test", str(data), "--size", f"{2 * h}x{2 * w}"]) == 0
    finer = json.loads(capsys.readouterr().out)
    assert finer["grid"] == f"{2 * h}x{2 * w}" and finer["size"] == size and finer["oof_images"] == 4
    assert main(["--runs", *runs, "--size", f"{h}x{2 * w}"]) == 1  # another aspect ratio
    assert "aspect ratio" in json.loads(capsys.readouterr().out)["detail"]
    for bad in ("big", "0x64", "99999x99999"):
        assert main(["--runs", *runs, "--size", bad]) == 2
        assert json.loads(capsys.readouterr().out)["error"] == "BadOption"
    # the same fold twice, or a run that is not a fold, is a JSON error line
    assert main(["--runs", runs[0], runs[0]]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "CrossValidationError"
    assert main(["--runs", str(tmp_path / "nowhere")]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "CrossValidationError"


def test_fold_archive_keeps_runs_in_float16_and_scores_like_them(
    tmp_path: Path, rng: np.random.Generator, capsys
) -> None:
    data, runs = _two_fold_runs(tmp_path, rng)
    store = tmp_path / "archive"
    # folds archived at different times add up in one archive, which is then scored as a whole
    assert main(["--runs", runs[1], "--archive", str(store)]) == 0
    assert json.loads(capsys.readouterr().out)["folds"] == [1]
    assert main(["--runs", runs[0], "--archive", str(store), "--test", str(data)]) == 0
    from_archive = json.loads(capsys.readouterr().out)
    assert from_archive["folds"] == [0, 1] and from_archive["oof_images"] == 4
    manifest = json.loads((store / "MANIFEST.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["fold1", "fold0"]
    for entry in manifest["models"]:
        assert entry["training"]["folds"] == 2 and entry["metrics"]["steps"] == 1
        run_file = tmp_path / f"f{entry['training']['fold']}" / "best.safetensors"
        assert (store / entry["file"]).stat().st_size < 0.6 * run_file.stat().st_size
    folds = load_folds([store])
    assert [f.config.fold for f in folds] == [1, 0]
    assert [f.source for f in folds] == [f"{store}:fold1", f"{store}:fold0"]
    # the float16 archive scores within rounding of the float32 runs
    assert main(["--runs", *runs, "--test", str(data)]) == 0
    from_runs = json.loads(capsys.readouterr().out)
    for key in ("plain", "post"):
        a, b = from_archive["test"][key]["dice_per_class"], from_runs["test"][key]["dice_per_class"]
        assert a.keys() == b.keys()
        for c in a:
            assert (a[c] is None) == (b[c] is None) and (a[c] is None or abs(a[c] - b[c]) < 0.02)
    # an archive and a run of the same fold are the same fold twice
    assert main(["--runs", str(store), runs[0]]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "CrossValidationError"
    # an unfinished run (no final scores yet) is not archived
    (Path(runs[0]) / "metrics.json").write_text(json.dumps({"history": []}))
    assert main(["--runs", runs[0], "--archive", str(tmp_path / "other")]) == 1
    assert "not finished" in json.loads(capsys.readouterr().out)["detail"]


def test_models_of_one_fold_with_other_seeds_are_averaged_out_of_fold(
    tmp_path: Path, rng: np.random.Generator, capsys
) -> None:
    import torch

    from models.crossval import cross_validate
    from models.data import load_folder
    from models.evaluate import labels_from, probabilities, scores

    data, runs = _two_fold_runs(tmp_path, rng)
    extra = tmp_path / "f0_seed1"
    train(TrainConfig(**TINY, data=str(data), classes=2, epochs=1, steps_per_epoch=1, folds=2, fold=0, seed=1,
                      out=str(extra)))  # fmt: skip
    result = cross_validate([*runs, str(extra)])
    assert result["folds"] == [0, 1] and result["models_per_fold"] == {"0": 2, "1": 1}
    assert result["oof_images"] == 4  # still one prediction an image
    # fold 0's images are predicted by the mean of its two models' probabilities, fold 1's by its one
    torch.set_num_threads(2)
    folds = load_folds([*runs, str(extra)])
    images, labels = load_folder(str(data), tuple(folds[0].model.args.input_size))
    parts, order = [], []
    for fold in (0, 1):
        _, val = split_indices(len(images), 0, 0.15, 2, fold)
        mine = [f.model for f in folds if f.config.fold == fold]
        parts.append(labels_from(sum(probabilities(m, images[val]) for m in mine) / len(mine)))
        order.append(val)
    expected = scores(np.concatenate(parts), labels[np.concatenate(order)], 2, pooled=True)
    assert result["oof"]["plain"] == expected
    # archived side by side: one entry per fold and seed, none overwritten
    store = tmp_path / "archive"
    assert main(["--runs", *runs, str(extra), "--archive", str(store)]) == 0
    assert json.loads(capsys.readouterr().out)["models_per_fold"] == {"0": 2, "1": 1}
    names = [m["name"] for m in json.loads((store / "MANIFEST.json").read_text())["models"]]
    assert sorted(names) == ["fold0", "fold0-seed1", "fold1"]
    # the same model twice (one training configuration) is still an error
    assert main(["--runs", str(store), str(extra)]) == 1
    assert "appears twice" in json.loads(capsys.readouterr().out)["detail"]


REPO = Path(__file__).parents[2]
USGRA_TEST = REPO / ".." / "shared" / "realdata" / "usgra-seg" / "test"
# the committed archives: (folder, epochs of 100 steps, seed of fold K minus K)
ARCHIVES = [("usgra-seg", 40, 0), ("usgra-seg-seed2", 40, 5), ("usgra-seg-6k", 60, 0)]


@pytest.mark.parametrize(("name", "epochs", "offset"), ARCHIVES)
def test_a_committed_fold_archive_holds_one_recipe_on_distinct_folds(name: str, epochs: int, offset: int) -> None:
    archive = REPO / "crossval" / name
    folds = load_folds([archive])  # every file's sha256 is checked against the manifest
    assert folds, f"crossval/{name} lists no fold model"
    recorded = json.loads((archive / "scores_tta.json").read_text())
    assert json.loads((archive / "scores_plain.json").read_text())["folds"] == recorded["folds"]
    assert recorded["folds"] == sorted(f.config.fold for f in folds)  # the record covers the archive
    recipe = {(f.config.arch, f.config.classes, f.config.input_size, f.config.epochs, f.config.steps_per_epoch,
               f.config.augment, f.config.ema, f.config.folds) for f in folds}  # fmt: skip
    assert recipe == {("unet_base", 2, "128x128", epochs, 100, "affine", None, 5)}
    assert len({f.config.fold for f in folds}) == len(folds)
    assert all(f.config.seed == f.config.fold + offset for f in folds)
    # stored as float16, loaded into float32 models
    assert all(str(next(f.model.parameters()).dtype) == "torch.float32" for f in folds)


@pytest.mark.skipif(not USGRA_TEST.is_dir(), reason="needs ../shared/realdata/usgra-seg")
@pytest.mark.parametrize("name", [a[0] for a in ARCHIVES])
def test_a_committed_fold_archive_scores_the_test_set_as_recorded(name: str) -> None:
    import torch

    from models.data import load_folder
    from models.evaluate import labels_from, probabilities, scores

    archive = REPO / "crossval" / name
    torch.set_num_threads(2)
    folds = load_folds([archive])
    recorded = json.loads((archive / "scores_plain.json").read_text())["test"]["plain"]
    images, labels = load_folder(USGRA_TEST, tuple(folds[0].model.args.input_size), split="test")
    mean = sum(probabilities(f.model, images) for f in folds) / len(folds)
    got = scores(labels_from(mean), labels, 2)
    # the ensemble's test Dice, recomputed from the float16 files (another CPU may flip a few pixels)
    assert got["dice"] == pytest.approx(recorded["dice"], abs=2e-3)
    for cls in ("1", "2"):
        assert got["dice_per_class"][cls] == pytest.approx(recorded["dice_per_class"][cls], abs=3e-3)


@pytest.mark.skipif(not USGRA_TEST.is_dir(), reason="needs ../shared/realdata/usgra-seg")
def test_the_figure_of_record_scores_the_test_set_as_recorded() -> None:
    """The ten models of ``usgra-seg`` and ``usgra-seg-seed2`` (two a fold), re-scored with TTA."""
    import torch

    from models.crossval import cross_validate

    torch.set_num_threads(2)
    recorded = json.loads((REPO / "crossval" / "usgra-seg-seed2" / "scores_both_tta.json").read_text())
    got = cross_validate([REPO / "crossval" / "usgra-seg", REPO / "crossval" / "usgra-seg-seed2"], USGRA_TEST, tta=True)
    assert got["models_per_fold"] == recorded["models_per_fold"] == {str(k): 2 for k in range(5)}
    assert got["keep_largest"] == recorded["keep_largest"]
    assert got["oof"]["plain"]["dice"] == pytest.approx(recorded["oof"]["plain"]["dice"], abs=2e-3)
    assert got["test"]["plain"]["dice"] == pytest.approx(recorded["test"]["plain"]["dice"], abs=2e-3)
    assert recorded["test"]["plain"]["dice"] >= 0.75  # the aim of the real-anatomy check

"""Cross-validation on tiny generated folders: out-of-fold scoring, the test ensemble, fold archives and the
out-of-fold choice of the largest-region post-processing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from models.training.crossval import choose_keep_largest, load_folds, main
from models.training.data import split_indices
from models.training.train import TrainConfig, train

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

    from models.training.crossval import cross_validate
    from models.training.data import load_folder
    from models.training.evaluate import labels_from, probabilities, scores

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

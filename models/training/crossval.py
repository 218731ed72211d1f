"""Score a cross-validation: ``python -m models.training.crossval --runs runs/cv_f0 ... runs/cv_f4 --test DIR``.

The runs are the folds of one ``neovasc train --folds N --fold K`` set on one folder. Each fold's model
predicts the images it was validated on, so together they give one out-of-fold prediction for every image
of the folder that no model trained on. A fold may have several models (the same fold trained with other
``--seed`` values): their probabilities are averaged, out of fold as on the test folder. Those
predictions decide, class by class, whether keeping only the largest connected region of the class helps
(as nnU-Net decides its post-processing); the test folder is then scored once, by the ensemble of the
fold models (their class probabilities averaged), without and with that choice. The test set therefore
chooses nothing.

A fold is a run folder (its ``config.json`` and ``best`` model) or a fold archive: a weights folder whose
manifest lists fold models, each entry carrying its training configuration. ``--archive DIR`` writes such
an archive from run folders, in float16 (half the bytes), so that fold models trained at different times
(the folds of a CPU cross-validation take hours each) can be kept and scored together later.

Scores are on the models' input grid (the images letterboxed to it, labels by nearest neighbour), or with
``--size HxW`` on a finer grid of the same aspect ratio, the probabilities resized bilinearly.

Prints one JSON object: ``oof`` (the out-of-fold scores, plain and with the largest region of every class
kept), ``keep_largest`` (the classes where that helped), and ``test`` (``plain`` and ``post``). Dice is per
image, each class averaged over the images where it is in the truth or the prediction (``models.training.evaluate``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.training.data import DatasetLayoutError, load_folder, split_indices
from models.training.evaluate import (
    keep_largest_component,
    labels_from,
    option_problem,
    parse_size,
    probabilities,
    resize_probabilities,
    scores,
)
from models.training.options import TrainConfig
from models.training.train import data_info
from models.unet import UNet

__all__ = ["CrossValidationError", "Fold", "archive", "choose_keep_largest", "cross_validate", "load_folds", "main"]


class CrossValidationError(ValueError):
    """The runs are not the folds of one cross-validation (other data, fold counts or input sizes)."""


def _config(run: Path) -> TrainConfig:
    path = run / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CrossValidationError(f"{path} is missing or unreadable: {exc}") from exc
    return _config_from(data, str(path))


def _config_from(data: object, where: str) -> TrainConfig:
    if not isinstance(data, dict):
        raise CrossValidationError(f"{where}: the training configuration is not an object")
    known = {f.name for f in fields(TrainConfig)}
    try:
        return TrainConfig(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise CrossValidationError(f"{where}: not a training configuration ({exc})") from exc


@dataclass(frozen=True)
class Fold:
    """One fold model: where it came from, the configuration it was trained with, and the model."""

    source: str
    config: TrainConfig
    model: UNet
    architecture: str


def load_folds(paths: Sequence[str | Path], device: str = "cpu") -> list[Fold]:
    """The fold models of run folders (their best model by validation Dice) and of fold archives (every
    model listed). Raises ``CrossValidationError`` for a path that is neither, ``WeightsError`` for a model
    that does not load."""
    from models.weights import load_model, read_manifest

    out: list[Fold] = []
    for raw in paths:
        path = Path(raw)
        if (path / "config.json").is_file():
            model, entry = load_model(path, "best", device)
            out.append(Fold(str(path), _config(path), model, entry.architecture))
            continue
        entries = read_manifest(path) if path.is_dir() else []
        if not entries:
            raise CrossValidationError(f"{path} is neither a run folder (config.json) nor a fold archive")
        for entry in entries:
            model, _ = load_model(path, entry.name, device)
            config = _config_from(entry.training, f"{path}: model {entry.name!r}")
            out.append(Fold(f"{path}:{entry.name}", config, model, entry.architecture))
    return out


def _model_key(config: TrainConfig) -> str:
    """What tells fold models apart: their whole training configuration (the same fold from another seed
    or recipe is another model; a run and its archived copy are one model)."""
    return json.dumps(asdict(config), sort_keys=True)


def _entry_name(directory: str | Path, config: TrainConfig) -> str:
    """``fold<K>``, else ``fold<K>-seed<S>`` (then ``-2``, ``-3`` ...): the first name that is free in the
    archive or holds this same model, which is then replaced."""
    from models.weights import read_manifest

    held = {
        e.name: _model_key(_config_from(e.training, f"{directory}: model {e.name!r}")) for e in read_manifest(directory)
    }
    key, plain = _model_key(config), f"fold{config.fold}"
    names = [plain, f"{plain}-seed{config.seed}"]
    names += (f"{names[1]}-{n}" for n in range(2, len(held) + 3))
    return next(n for n in names if held.get(n, key) == key)


def archive(runs: Sequence[str | Path], directory: str | Path) -> list[str]:
    """Add the best model of each run folder to the fold archive ``directory`` as ``fold<K>`` (float16),
    with its training configuration and its metrics (best validation Dice, test scores, steps, seconds).
    Returns the names written. A fold the archive already holds from another seed or recipe is added
    beside it as ``fold<K>-seed<S>``; the same model (one training configuration) replaces its entry."""
    from models.weights import save_weights

    for run in map(Path, runs):
        if not (run / "config.json").is_file():
            raise CrossValidationError(f"{run} is not a run folder; only runs are archived")
    names = []
    for fold in load_folds(runs):
        run = Path(fold.source)
        try:
            metrics = json.loads((run / "metrics.json").read_text())
        except (OSError, ValueError) as exc:
            raise CrossValidationError(f"{run}/metrics.json is missing or unreadable: {exc}") from exc
        if "test" not in metrics and "best_val" not in metrics:
            raise CrossValidationError(f"{run} has not finished (metrics.json holds no final scores)")
        summary = {k: metrics.get(k) for k in ("best_val", "test", "steps", "train_seconds")}
        name = _entry_name(directory, fold.config)
        save_weights(
            fold.model, fold.model.args, directory, name, architecture=fold.architecture,
            training=asdict(fold.config), data=data_info(fold.config),
            metrics=summary, half=True,
        )  # fmt: skip
        names.append(name)
    return names


def choose_keep_largest(pred: np.ndarray, labels: np.ndarray, classes: int) -> tuple[list[int], dict[str, Any]]:
    """Classes whose per-image Dice on ``labels`` rises when only their largest region is kept, and the
    scores of ``pred`` plain and with every class reduced to its largest region."""
    plain = scores(pred, labels, classes, pooled=True)
    largest = scores(keep_largest_component(pred, range(1, classes + 1)), labels, classes, pooled=True)
    chosen = [
        c
        for c in range(1, classes + 1)
        if plain["dice_per_class"][str(c)] is not None
        and largest["dice_per_class"][str(c)] > plain["dice_per_class"][str(c)]
    ]
    return chosen, {"plain": plain, "largest": largest}


def cross_validate(
    runs: Sequence[str | Path],
    test: str | Path | None = None,
    *,
    tta: bool = False,
    grid: tuple[int, int] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Out-of-fold scores of the fold models (run folders or fold archives, see ``load_folds``), the
    post-processing they choose and (with ``test``) the test scores of their ensemble. Scores are on the
    models' input grid, or on ``grid`` (probabilities resized bilinearly, labels letterboxed to it; the
    aspect ratio must match). Raises ``CrossValidationError`` when the models are not the folds of one
    cross-validation."""
    loaded = load_folds(runs, device)
    if not loaded:
        raise CrossValidationError("no fold models given")
    configs = [f.config for f in loaded]
    models: list[UNet] = [f.model for f in loaded]
    first = configs[0]
    if first.folds < 2 or first.data == "synth":
        raise CrossValidationError(f"{loaded[0].source} was not trained with --folds on a folder")
    if any((c.data, c.folds, c.classes) != (first.data, first.folds, first.classes) for c in configs):
        raise CrossValidationError("the runs differ in --data, --folds or --classes")
    seen: set[str] = set()
    for c in configs:
        key = _model_key(c)
        if key in seen:
            raise CrossValidationError(f"a fold model appears twice among the runs: fold {c.fold}, seed {c.seed}")
        seen.add(key)
    folds = sorted({c.fold for c in configs})
    size = tuple(models[0].args.input_size)
    if any(tuple(m.args.input_size) != size for m in models):
        raise CrossValidationError("the runs' models have different input sizes")
    grid = size if grid is None else tuple(grid)
    if abs(grid[0] / grid[1] - size[0] / size[1]) > 1e-6:
        raise CrossValidationError(f"the scoring grid {grid} must have the aspect ratio of the models' input {size}")
    classes = first.classes
    images, labels = load_folder(first.data, size, label_size=grid)
    oof_idx, oof_pred = [], []
    for fold in folds:
        # every model of the fold (one per seed) predicts the fold's validation images; averaged
        mine = [m for c, m in zip(configs, models, strict=True) if c.fold == fold]
        _, val_idx = split_indices(len(images), first.seed, first.val_fraction, first.folds, fold)
        mean = sum(resize_probabilities(probabilities(m, images[val_idx], tta=tta), grid) for m in mine) / len(mine)
        oof_idx.append(val_idx)
        oof_pred.append(labels_from(mean))
    idx = np.concatenate(oof_idx)
    keep, oof = choose_keep_largest(np.concatenate(oof_pred), labels[idx], classes)
    out: dict[str, Any] = {
        "runs": [f.source for f in loaded],
        "data": first.data,
        "folds": folds,
        "of_folds": first.folds,
        "models_per_fold": {str(f): sum(c.fold == f for c in configs) for f in folds},
        "oof_images": int(idx.size),
        "tta": tta,
        "size": f"{size[0]}x{size[1]}",
        "grid": f"{grid[0]}x{grid[1]}",
        "oof": oof,
        "keep_largest": keep,
    }
    if test is not None:
        test_images, test_labels = load_folder(test, size, split="test", label_size=grid)
        mean = sum(resize_probabilities(probabilities(m, test_images, tta=tta), grid) for m in models) / len(models)
        pred = labels_from(mean)
        out["test"] = {
            "folder": str(test),
            "plain": scores(pred, test_labels, classes, pooled=True),
            "post": scores(keep_largest_component(pred, keep), test_labels, classes, pooled=True),
        }
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.training.crossval", description=__doc__.splitlines()[0])
    p.add_argument(
        "--runs", nargs="+", required=True, metavar="DIR", help="the folds: run folders and/or fold archives"
    )
    p.add_argument(
        "--archive",
        metavar="DIR",
        help="add the runs' best models to this fold archive (float16), then score the whole archive",
    )
    p.add_argument("--test", help="a test folder scored once by the ensemble of the fold models")
    p.add_argument("--tta", action="store_true", help="average each model with its mirrored input")
    p.add_argument("--size", metavar="HxW", help="score on this grid (default: the models' input size)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prints one JSON object (or a JSON error line); returns the exit code."""
    from models.weights import WeightsError

    ns = build_parser().parse_args(argv)
    problem = option_problem(0.0, ns.size, "--size")
    if problem is not None:
        print(json.dumps({"error": "BadOption", "detail": problem}))
        return 2
    torch.set_num_threads(ns.threads)
    try:
        sources = ns.runs
        if ns.archive is not None:
            archive(ns.runs, ns.archive)
            sources = [ns.archive]  # scored as stored: every fold of the archive, float16-rounded
        result = cross_validate(sources, ns.test, tta=ns.tta, grid=parse_size(ns.size), device=ns.device)
    except (CrossValidationError, DatasetLayoutError, WeightsError) as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

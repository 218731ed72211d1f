"""Score a cross-validation: ``python -m models.crossval --runs runs/cv_f0 ... runs/cv_f4 --test DIR``.

The runs are the folds of one ``neovasc train --folds N --fold K`` set on one folder. Each fold's model
predicts the images it was validated on, so together they give one out-of-fold prediction for every image
of the folder that no model trained on. Those predictions decide, class by class, whether keeping only the
largest connected region of the class helps (as nnU-Net decides its post-processing); the test folder is
then scored once, by the ensemble of the fold models (their class probabilities averaged), without and with
that choice. The test set therefore chooses nothing.

Prints one JSON object: ``oof`` (the out-of-fold scores, plain and with the largest region of every class
kept), ``keep_largest`` (the classes where that helped), and ``test`` (``plain`` and ``post``). Dice is per
image, each class averaged over the images where it is in the truth or the prediction (``models.evaluate``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.data import DatasetLayoutError, load_folder, split_indices
from models.evaluate import keep_largest_component, labels_from, probabilities, scores
from models.train import TrainConfig
from models.unet import UNet

__all__ = ["CrossValidationError", "choose_keep_largest", "cross_validate", "main"]


class CrossValidationError(ValueError):
    """The runs are not the folds of one cross-validation (other data, fold counts or input sizes)."""


def _config(run: Path) -> TrainConfig:
    path = run / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CrossValidationError(f"{path} is missing or unreadable: {exc}") from exc
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in known})


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
    runs: Sequence[str | Path], test: str | Path | None = None, *, tta: bool = False, device: str = "cpu"
) -> dict[str, Any]:
    """Out-of-fold scores of the fold runs, the post-processing they choose and (with ``test``) the test
    scores of their ensemble. Raises ``CrossValidationError`` when the runs are not one cross-validation."""
    from models.weights import load_model

    runs = [Path(r) for r in runs]
    configs = [_config(r) for r in runs]
    first = configs[0]
    if first.folds < 2 or first.data == "synth":
        raise CrossValidationError(f"{runs[0]} was not trained with --folds on a folder")
    if any((c.data, c.folds, c.classes) != (first.data, first.folds, first.classes) for c in configs):
        raise CrossValidationError("the runs differ in --data, --folds or --classes")
    folds = [c.fold for c in configs]
    if len(set(folds)) != len(folds):
        raise CrossValidationError(f"a fold appears twice among the runs: folds {folds}")
    models: list[UNet] = [load_model(r, "best", device)[0] for r in runs]  # best by validation Dice
    size = tuple(models[0].args.input_size)
    if any(tuple(m.args.input_size) != size for m in models):
        raise CrossValidationError("the runs' models have different input sizes")
    classes = first.classes
    images, labels = load_folder(first.data, size)
    oof_idx, oof_pred = [], []
    for cfg, model in zip(configs, models, strict=True):
        _, val_idx = split_indices(len(images), cfg.seed, cfg.val_fraction, cfg.folds, cfg.fold)
        oof_idx.append(val_idx)
        oof_pred.append(labels_from(probabilities(model, images[val_idx], tta=tta)))
    idx = np.concatenate(oof_idx)
    keep, oof = choose_keep_largest(np.concatenate(oof_pred), labels[idx], classes)
    out: dict[str, Any] = {
        "runs": [str(r) for r in runs],
        "data": first.data,
        "folds": sorted(folds),
        "of_folds": first.folds,
        "oof_images": int(idx.size),
        "tta": tta,
        "size": f"{size[0]}x{size[1]}",
        "oof": oof,
        "keep_largest": keep,
    }
    if test is not None:
        test_images, test_labels = load_folder(test, size, split="test")
        mean = sum(probabilities(m, test_images, tta=tta) for m in models) / len(models)
        pred = labels_from(mean)
        out["test"] = {
            "folder": str(test),
            "plain": scores(pred, test_labels, classes, pooled=True),
            "post": scores(keep_largest_component(pred, keep), test_labels, classes, pooled=True),
        }
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.crossval", description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="the run folders of the folds")
    p.add_argument("--test", help="a test folder scored once by the ensemble of the fold models")
    p.add_argument("--tta", action="store_true", help="average each model with its mirrored input")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prints one JSON object (or a JSON error line); returns the exit code."""
    from models.weights import WeightsError

    ns = build_parser().parse_args(argv)
    torch.set_num_threads(ns.threads)
    try:
        result = cross_validate(ns.runs, ns.test, tta=ns.tta, device=ns.device)
    except (CrossValidationError, DatasetLayoutError, WeightsError) as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

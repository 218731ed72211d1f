"""Dice of trained models on a labelled folder: ``python -m models.training.evaluate``; also used by training.

    python -m models.training.evaluate --test DATA/test --weights runs/a runs/b --tta

Each ``--weights`` is a weights folder (``DIR`` or ``DIR:NAME``; the ``best`` model of a run folder by
default). With several, their class probabilities are averaged (an ensemble); ``--tta`` averages each
model's probabilities with those of the mirrored image. Scores are on the first model's input grid, as
in training (the test images letterboxed to it, labels by nearest neighbour), or on ``--size HxW``:
each model then sees the images letterboxed to its own input and its probabilities are resized
(bilinear) to that grid, so models of different input sizes are scored on the same labels. Every size
must have the aspect ratio of the scoring grid (the letterboxes then scale alike).

* ``dice_per_class``: per-image Dice averaged over the images where the class is in the truth or the
  prediction; ``dice`` is the mean over the classes;
* ``global_dice_per_class``: Dice of all test pixels pooled;
* with ``--min-component F``, the same after dropping predicted regions smaller than ``F`` of the image.

``--heldout`` scores one model on the held-out family (``models.training.heldout``) instead of a folder:
the Dice of ``TendonSegmenter.predict`` (largest region, at the frame's own size) on each case's frames
before encoding, inside the true ultrasound picture, against the true tendon; mean, 10th percentile,
misses (Dice below 0.2) and the same by view, pathology and Doppler amount. No codec, no screen reading
and no app: the model alone (``benchmarks/heldout.py`` runs the whole pipeline). ``--split test``
(seeds 1000 and up) is for reporting; only ``--split val`` may guide a choice.

    python -m models.training.evaluate --heldout --split val --n 100 --weights runs/a
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from models.training.data import to_batch
from models.unet import UNet

__all__ = [
    "dice_per_class",
    "drop_small_components",
    "evaluate",
    "global_dice_per_class",
    "heldout_scores",
    "heldout_summary",
    "keep_largest_component",
    "main",
    "option_problem",
    "parse_size",
    "predict_labels",
    "probabilities",
    "resize_probabilities",
    "scores",
]


def dice_per_class(pred: np.ndarray, truth: np.ndarray, classes: int) -> dict[int, float | None]:
    """Mean per-image Dice for each class ``1..classes``; images where the class is absent from both the
    prediction and the truth are skipped (``None`` when no image has the class)."""
    out: dict[int, float | None] = {}
    for c in range(1, classes + 1):
        p, t = pred == c, truth == c  # (N, h, w)
        inter = (p & t).sum((1, 2))
        total = p.sum((1, 2)) + t.sum((1, 2))
        seen = total > 0
        out[c] = float(np.mean(2 * inter[seen] / total[seen])) if seen.any() else None
    return out


def global_dice_per_class(pred: np.ndarray, truth: np.ndarray, classes: int) -> dict[int, float | None]:
    """Dice of each class ``1..classes`` over all pixels of all images pooled."""
    out: dict[int, float | None] = {}
    for c in range(1, classes + 1):
        p, t = pred == c, truth == c
        total = int(p.sum()) + int(t.sum())
        out[c] = 2 * int((p & t).sum()) / total if total else None
    return out


def drop_small_components(pred: np.ndarray, classes: int, min_fraction: float) -> np.ndarray:
    """``(N, h, w)`` class maps with every connected region (8-connected, per class) smaller than
    ``min_fraction`` of the image set to background; ``min_fraction <= 0`` returns ``pred`` unchanged."""
    if min_fraction <= 0:
        return pred
    out = pred.copy()
    min_px = min_fraction * pred.shape[1] * pred.shape[2]
    for image in out:
        for c in range(1, classes + 1):
            _, comp, stats, _ = cv2.connectedComponentsWithStats((image == c).astype(np.uint8), connectivity=8)
            small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_px) + 1
            if small.size:
                image[np.isin(comp, small)] = 0
    return out


def keep_largest_component(pred: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """``(N, h, w)`` class maps with, for each class in ``classes``, only its largest connected region
    (8-connected) of each image kept and the others set to background: the post-processing nnU-Net
    tries for structures that appear once per image."""
    out = pred.copy()
    for image in out:
        for c in classes:
            n, comp, stats, _ = cv2.connectedComponentsWithStats((image == c).astype(np.uint8), connectivity=8)
            if n > 2:  # background + more than one region
                largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                image[(comp != largest) & (comp > 0)] = 0
    return out


def scores(pred: np.ndarray, labels: np.ndarray, classes: int, pooled: bool = False) -> dict[str, Any]:
    """``{"dice", "dice_per_class"}`` (and ``"global_dice_per_class"`` when ``pooled``) of class maps."""
    per_class = dice_per_class(pred, labels, classes)
    values = [v for v in per_class.values() if v is not None]
    out: dict[str, Any] = {
        "dice": float(np.mean(values)) if values else None,
        "dice_per_class": {str(k): v for k, v in per_class.items()},
    }
    if pooled:
        out["global_dice_per_class"] = {str(k): v for k, v in global_dice_per_class(pred, labels, classes).items()}
    return out


def _classes(model: UNet) -> int:
    return max(1, model.args.out_channels - 1) if model.args.out_channels > 1 else 1


@torch.inference_mode()
def probabilities(model: UNet, images: np.ndarray, batch_size: int = 16, tta: bool = False) -> np.ndarray:
    """``(N, h, w, 3) uint8`` letterboxed images -> ``(N, C, h, w) float32`` class probabilities (softmax;
    one sigmoid channel for a binary head); ``tta`` averages them with those of the mirrored image."""
    model.eval()
    device = next(model.parameters()).device
    binary = model.args.out_channels == 1
    out = []
    for start in range(0, len(images), batch_size):
        x = to_batch(images[start : start + batch_size], model.args.in_channels, device)
        views = [model(x)] + ([model(x.flip(3)).flip(3)] if tta else [])
        probs = [torch.sigmoid(v) if binary else v.softmax(1) for v in views]
        out.append((sum(probs) / len(probs)).float().cpu().numpy())
    return np.concatenate(out)


def resize_probabilities(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(N, C, h, w)`` probabilities resized (bilinear) to ``size``; returned as they are when already there.
    Letterboxes of one aspect ratio scale alike, so the resized maps line up with labels letterboxed to
    ``size``."""
    h, w = size
    if probs.shape[2:] == (h, w):
        return probs
    out = np.stack([cv2.resize(p.transpose(1, 2, 0), (w, h)).reshape(h, w, -1) for p in probs])
    return out.transpose(0, 3, 1, 2)


def labels_from(probs: np.ndarray) -> np.ndarray:
    """``(N, C, h, w)`` probabilities -> ``(N, h, w) uint8`` classes (p > 0.5 for one channel)."""
    if probs.shape[1] == 1:
        return (probs[:, 0] > 0.5).astype(np.uint8)
    return probs.argmax(1).astype(np.uint8)


def predict_labels(model: UNet, images: np.ndarray, batch_size: int = 16, tta: bool = False) -> np.ndarray:
    """``(N, h, w, 3) uint8`` letterboxed images -> ``(N, h, w) uint8`` class maps (see ``probabilities``)."""
    return labels_from(probabilities(model, images, batch_size, tta))


def evaluate(
    model: UNet,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 16,
    *,
    tta: bool = False,
    min_component: float = 0.0,
) -> dict[str, Any]:
    """Per-class and mean Dice of ``model`` on letterboxed ``images``/``labels`` (model-input resolution).

    The plain scores come first; ``tta`` adds ``"tta"`` (flip averaging) and ``min_component`` adds
    ``"post"`` (predicted regions below that fraction of the image dropped, after TTA when both are set).
    """
    classes = _classes(model)
    pred = predict_labels(model, images, batch_size)
    out = scores(pred, labels, classes)
    if tta:
        pred = predict_labels(model, images, batch_size, tta=True)
        out["tta"] = scores(pred, labels, classes)
    if min_component > 0:
        out["post"] = scores(drop_small_components(pred, classes, min_component), labels, classes)
    return out


def _load(spec: str, device: str) -> UNet:
    from models.weights import ModelNotFoundError, load_model

    directory, _, name = spec.partition(":")
    if name:
        return load_model(directory, name, device)[0]
    try:
        return load_model(directory, "best", device)[0]  # a run folder
    except ModelNotFoundError:
        return load_model(directory, None, device)[0]  # a weights folder: its first model


def evaluate_ensemble(
    models: Sequence[UNet], images_by_size: dict[tuple[int, int], np.ndarray], labels: np.ndarray,
    *, tta: bool = False, min_component: float = 0.0, per_image: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Dice of the models' averaged probabilities against ``labels (N, h, w)``. ``images_by_size`` holds
    the test images letterboxed to each model's input size; probabilities are resized to ``(h, w)``."""
    size = labels.shape[1:]
    total = None
    for model in models:
        probs = resize_probabilities(probabilities(model, images_by_size[tuple(model.args.input_size)], tta=tta), size)
        total = probs if total is None else total + probs
    classes = _classes(models[0])
    pred = labels_from(total / len(models))
    out = scores(pred, labels, classes, pooled=True)
    if min_component > 0:
        out["post"] = scores(drop_small_components(pred, classes, min_component), labels, classes, pooled=True)
    if per_image:
        out["per_image"] = [
            {str(c): v for c, v in dice_per_class(pred[i : i + 1], labels[i : i + 1], classes).items()}
            for i in range(len(pred))
        ]
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.training.evaluate", description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--test", help="folder with a test split (imagesTs/+labelsTs/ or images/+masks/)")
    source.add_argument("--heldout", action="store_true", help="score one model on the held-out family instead")
    p.add_argument("--split", default="test", choices=("val", "test"), help="held-out part (val: model choice)")
    p.add_argument("--n", type=int, default=120, help="held-out cases")
    p.add_argument("--seed", type=int, help="first held-out case seed (default: the split's first)")
    p.add_argument("--weights", nargs="+", required=True, metavar="DIR[:NAME]", help="one or more models")
    p.add_argument("--tta", action="store_true", help="average each model with its mirrored input")
    p.add_argument(
        "--min-component", type=float, default=0.0, metavar="FRACTION", help="also score without small regions"
    )
    p.add_argument("--size", metavar="HxW", help="score on this grid (default: the first model's input size)")
    p.add_argument("--per-image", action="store_true", help="also list each image's Dice per class")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prints one JSON object; returns the exit code."""
    from models.training.data import DatasetLayoutError, load_folder
    from models.weights import WeightsError

    ns = build_parser().parse_args(argv)
    problem = option_problem(ns.min_component, ns.size, "--size") or _heldout_problem(ns)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    torch.set_num_threads(ns.threads)
    try:
        models = [_load(spec, ns.device) for spec in ns.weights]
    except WeightsError as exc:
        return _error(type(exc).__name__, str(exc))
    if ns.heldout:
        return _heldout_main(ns, models)
    grid = parse_size(ns.size) or tuple(models[0].args.input_size)
    sizes = {tuple(m.args.input_size) for m in models}
    if len({_classes(m) for m in models}) != 1:
        return _error("ClassMismatch", "the models predict different numbers of classes")
    if any(abs(h / w - grid[0] / grid[1]) > 1e-6 for h, w in sizes):
        return _error("SizeMismatch", f"model input sizes {sorted(sizes)} must have the aspect ratio of {grid}")
    try:
        loaded = {size: load_folder(ns.test, size, split="test") for size in sizes | {grid}}  # each size once
    except DatasetLayoutError as exc:
        return _error(type(exc).__name__, str(exc))
    images = {size: loaded[size][0] for size in sizes}
    result = evaluate_ensemble(
        models, images, loaded[grid][1], tta=ns.tta, min_component=ns.min_component, per_image=ns.per_image
    )
    size = f"{grid[0]}x{grid[1]}"
    print(json.dumps({"weights": ns.weights, "test": ns.test, "size": size, "tta": ns.tta, **result}))
    return 0


def _heldout_problem(ns: argparse.Namespace) -> str | None:
    """``--heldout`` scores the product's predictor as it runs: options that change it are refused."""
    given = [flag for flag, on in (("--tta", ns.tta), ("--min-component", ns.min_component), ("--size", ns.size)) if on]
    return (
        f"{', '.join(given)} score a --test folder; --heldout runs the predictor as shipped"
        if ns.heldout and given
        else None
    )


MISS_DICE = 0.2  # below this the outline is not the tendon: a miss


def heldout_scores(segmenter: Any, cases: Iterable[Any]) -> list[dict[str, Any]]:
    """Per held-out case: the mean Dice over its frames of ``segmenter.predict`` inside the true picture,
    with the case's seed, view, pathology and Doppler amount."""
    from models.training.heldout import amount_of

    rows = []
    for case in cases:
        masks = segmenter.predict(case.frames, area=case.picture)  # (N, H, W) bool
        truth = case.tendon
        values = [2 * int((m & truth).sum()) / max(int(m.sum()) + int(truth.sum()), 1) for m in masks]
        meta = case.meta
        rows.append({
            "seed": case.seed, "dice": float(np.mean(values)), "view": meta["view"],
            "pathology": meta["pathology"], "amount": amount_of(case.peak_colour_fraction()),
        })  # fmt: skip
    return rows


def heldout_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 10th-percentile Dice and misses, overall and by view, pathology and amount."""

    def stats(part: Sequence[dict[str, Any]]) -> dict[str, Any]:
        d = np.array([r["dice"] for r in part], float)
        return {
            "cases": len(part),
            "dice": float(d.mean()) if len(d) else None,
            "dice_p10": float(np.percentile(d, 10)) if len(d) else None,
            "missed": int((d < MISS_DICE).sum()),
        }

    by = {
        key: {value: stats([r for r in rows if r[key] == value]) for value in sorted({r[key] for r in rows})}
        for key in ("view", "pathology", "amount")
    }
    return {**stats(rows), "by": by}


def _heldout_main(ns: argparse.Namespace, models: Sequence[UNet]) -> int:
    from models.predictor import TendonSegmenter
    from models.training.heldout import GENERATOR, SPLITS, iter_heldout

    if len(models) != 1 or models[0].args.out_channels != 1:
        return _error("UnsupportedModel", "--heldout scores one tendon model (one output channel) at a time")
    segmenter = TendonSegmenter(models[0], name=ns.weights[0], sha256="")
    first = ns.seed if ns.seed is not None else SPLITS[ns.split][0]
    try:
        rows = heldout_scores(segmenter, iter_heldout(ns.n, first, split=ns.split))
    except ValueError as exc:
        return _error("InvalidSeeds", str(exc))
    summary = heldout_summary(rows)
    out = {"weights": ns.weights, "heldout": GENERATOR, "split": ns.split, "seeds": [first, first + ns.n - 1]}
    print(json.dumps({**out, **summary, **({"per_case": rows} if ns.per_image else {})}))
    return 0


MAX_GRID = 4096  # pixels a side of a scoring grid: larger is no longer an evaluation but an allocation


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"HxW"`` -> ``(H, W)``; ``None`` stays ``None``. Check the text with ``option_problem`` first."""
    if text is None:
        return None
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def option_problem(min_component: float, size: str | None, size_flag: str) -> str | None:
    """What is wrong with a ``--min-component`` fraction or an ``HxW`` size option, or ``None``."""
    if not 0.0 <= min_component < 1.0:
        return f"--min-component is a fraction of the input in [0, 1); got {min_component}"
    if size is not None and not re.fullmatch(r"[1-9]\d*x[1-9]\d*", size.lower()):
        return f"{size_flag} must be HxW in pixels, e.g. 256x256; got {size!r}"
    if size is not None and max(parse_size(size)) > MAX_GRID:
        return f"{size_flag} is at most {MAX_GRID} pixels a side; got {size!r}"
    return None


def _error(name: str, detail: str) -> int:
    print(json.dumps({"error": name, "detail": detail}))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

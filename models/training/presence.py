"""Fit the presence head of a trained tendon model: does the picture hold a tendon at all?

    python -m models.training.presence --weights DIR [--name NAME] --out DIR [--negatives DIR]

The segmentation network outlines whatever looks most like a tendon, and on a carotid or a nerve block
image that is a vessel wall or a fascia. Training the network itself with more frames without a tendon
cost it held-out tendons (docs/heldout.md), so the decision "is there a tendon" is a separate linear head
(``models.unet.PresenceHead``) on features the network computes anyway; the segmentation weights stay
exactly as they were.

Fitting, all on data the held-out evaluation never reports on:

* **Frames with and without a tendon** from the training generator (``models.training.synth``, picture
  view, ``NO_TENDON_SHARE`` of them without one), drawn from seeds no training run uses.
* **Real images of other anatomy** (``--negatives``, default the usgra-seg *training* half, regional
  anaesthesia B-mode images of nerves, vessels and muscle), each also mirrored. Their test half stays out:
  ``benchmarks/non_tendon.py`` reports on it.
* A logistic regression on the standardised features (L2 ``L2``), classes weighted equally.
* **The boundary** is set on held-out **val** cases (``models.training.heldout``, split ``val``): the
  ``--reject-share`` quantile of their presence, so that at most that share of val pictures, which all hold
  a tendon, is judged to hold none. It is folded into the head's bias (logit 0 = the boundary), and the
  standardisation into its weights, so inference is one linear layer.

The fitted model is written to ``--out`` (float16, as shipped) with what was fitted in its manifest entry
(``training.presence``). Export its ONNX graph afterwards (``python -m models.training.onnx_export``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models.training.data import read_textures, to_batch
from models.transforms import letterbox
from models.unet import PresenceHead, UNet, presence_features
from models.weights import WeightsError, load_model, read_manifest, save_weights

REPO = Path(__file__).resolve().parents[2]
DEFAULT_NEGATIVES = REPO.parent / "shared" / "realdata" / "usgra-seg" / "images"
NO_TENDON_SHARE = 0.35  # of the synthetic frames; the rest hold a tendon
DOME_SHARE = 0.2  # tendons draped over a round bony head among them
SEED_BASE = 777_000  # synthetic frames' seeds: apart from every training run's (seed * 1_000_003 + i)
L2 = 1e-2
SCALE_FLOOR = 1e-3  # a feature that barely varies is not blown up by the standardisation
BATCH = 16


def features(model: UNet, images: np.ndarray) -> np.ndarray:
    """``(N, h, w, 3) uint8 RGB`` frames at the model's input size -> ``(N, F) float32`` head inputs."""
    out = [np.zeros((0, PresenceHead(model.args).features), np.float32)]
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            x = to_batch(images[start : start + BATCH], model.args.in_channels)
            logits, bottleneck, decoder = model.forward_parts(x)
            out.append(presence_features(bottleneck, decoder, logits).numpy())
    return np.concatenate(out)


def synthetic_frames(model: UNet, count: int, textures: list[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` training-generator frames as the model sees them, and whether each holds a tendon."""
    from models.training import synth

    ranges = replace(
        synth.TRAIN_RANGES,
        size=model.args.input_size,
        view=model.args.input_view,
        no_tendon_share=NO_TENDON_SHARE,
        dome_share=DOME_SHARE,
    )
    samples = [synth.make_sample(SEED_BASE + i, ranges, textures) for i in range(count)]
    images = np.stack([s.image for s in samples])
    return images, np.array([bool(s.mask.any()) for s in samples])


def real_negatives(model: UNet, images: list[np.ndarray] | None) -> np.ndarray:
    """``(H, W) uint8`` grey images (``read_textures``), each as it is and mirrored, at the model's input size."""
    boxed = [
        letterbox(np.repeat(grey[None, ..., None], 3, axis=3), model.args.input_size)[0][0] for grey in images or []
    ]
    out = [view for b in boxed for view in (b, np.ascontiguousarray(b[:, ::-1]))]
    return np.stack(out) if out else np.zeros((0, *model.args.input_size, 3), np.uint8)


def heldout_val_pictures(model: UNet, count: int) -> np.ndarray:
    """The first frame of ``count`` held-out val cases, cropped to the picture, at the model's input size."""
    from models.training.heldout import iter_heldout

    images = []
    for case in iter_heldout(count, split="val"):
        h, w = case.frames.shape[1:3]
        x0, y0, x1, y1 = case.picture if model.args.input_view == "picture" else (0, 0, w, h)
        images.append(letterbox(np.ascontiguousarray(case.frames[:1, y0:y1, x0:x1]), model.args.input_size)[0][0])
    return np.stack(images)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Weights and bias of an L2 logistic regression on standardised ``x (N, F)`` for labels ``y (N,)``,
    the two classes weighted equally; with the standardisation's mean and scale."""
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), SCALE_FLOOR)
    z = torch.tensor((x - mean) / scale, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    positive = float(target.mean())
    if positive in (0.0, 1.0):
        raise ValueError("the presence head needs frames with and without a tendon")
    weight = torch.where(target > 0, 0.5 / positive, 0.5 / (1 - positive))
    linear = torch.nn.Linear(z.shape[1], 1)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimiser = torch.optim.LBFGS(linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear(z)[:, 0], target, weight=weight)
        loss = loss + l2 * (linear.weight**2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return linear.weight.detach().numpy()[0], float(linear.bias.detach()[0]), mean, scale


def segmentation_only(model: UNet) -> UNet:
    """``model`` without a presence head (an earlier one is fitted anew), its weights rounded to float16 as
    they will be shipped, so the head is fitted on the features the shipped network computes."""
    plain = model.without_presence()
    base = UNet(plain.args)  # a copy: the rounding must not touch the caller's model
    base.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in plain.state_dict().items()})
    return base.eval()


def attach_head(model: UNet, weight: np.ndarray, bias: float, mean: np.ndarray, scale: np.ndarray, boundary: float):
    """``model`` with a presence head computing ``weight . (features - mean) / scale + bias - logit(boundary)``."""
    fitted = model.rebuilt(replace(model.args, presence=True))  # the head is new; everything else is copied
    folded = weight / scale
    with torch.no_grad():
        fitted.presence.linear.weight.copy_(torch.tensor(folded[None], dtype=torch.float32))
        shift = bias - float(np.dot(folded, mean)) - math.log(boundary / (1 - boundary))
        fitted.presence.linear.bias.fill_(shift)
    return fitted.eval()


def _probability(weight: np.ndarray, bias: float, mean: np.ndarray, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(((x - mean) / scale) @ weight + bias)))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, required=True, help="weights folder of the trained model")
    p.add_argument("--name", default=None, help="model to fit the head to (default: the first listed)")
    p.add_argument("--out", type=Path, required=True, help="weights folder to write the fitted model to")
    p.add_argument("--out-name", default=None, help="name of the fitted model (default: the same)")
    p.add_argument("--negatives", type=Path, default=DEFAULT_NEGATIVES, help="real images without a tendon")
    p.add_argument("--frames", type=int, default=1200, help="synthetic frames to fit on")
    p.add_argument("--val", type=int, default=360, help="held-out val cases that set the boundary")
    p.add_argument("--reject-share", type=float, default=0.05, help="share of val tendons judged absent")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if not 0 < args.reject_share < 0.5:
        p.error("--reject-share must be between 0 and 0.5")
    if args.frames < 2 or args.val < 1 or args.threads < 1:
        p.error("--frames must be at least 2, --val and --threads at least 1")
    try:
        return _fit(args)
    except (WeightsError, ValueError, OSError) as exc:  # a broken folder, a class missing, a full disk
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}), file=sys.stderr)
        return 1


def _fit(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded, entry = load_model(args.weights, args.name, "cpu")
    model = segmentation_only(loaded)
    textures = read_textures(args.negatives) if args.negatives.is_dir() else None  # read once: negatives and tissue
    negatives = real_negatives(model, textures)
    images, present = synthetic_frames(model, args.frames, textures)
    x = np.concatenate([features(model, images), features(model, negatives)])
    y = np.concatenate([present, np.zeros(len(negatives), bool)]).astype(np.float32)
    weight, bias, mean, scale = fit_logistic(x, y)
    val = _probability(weight, bias, mean, scale, features(model, heldout_val_pictures(model, args.val)))
    boundary = float(np.clip(np.quantile(val, args.reject_share), 1e-4, 0.5))
    fitted = attach_head(model, weight, bias, mean, scale, boundary)
    fitted_train = _probability(weight, bias, mean, scale, x) > boundary
    record = {
        "synthetic_frames": len(images),
        "synthetic_without_tendon": int((~present).sum()),
        "real_negatives": len(negatives),
        "negatives_folder": args.negatives.name,
        "l2": L2,
        "val_cases": len(val),
        "reject_share": args.reject_share,
        "boundary": round(boundary, 5),
        "fit_accuracy": round(float((fitted_train == (y > 0)).mean()), 4),
    }
    source = next(e for e in read_manifest(args.weights) if e.name == entry.name)
    training = {**source.training, "presence": record}
    save_weights(
        fitted, fitted.args, args.out, args.out_name or entry.name, architecture=entry.architecture,
        training=training, data=source.data, metrics=source.metrics, half=True,
    )  # fmt: skip
    print(json.dumps({**record, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

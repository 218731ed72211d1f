"""Train the segmentation U-Net: ``python -m models.training.train`` or ``neovasc train``.

Data: ``--data synth`` (frames from ``models.training.synth``, cached in memory; ``--beamsim-share`` and
``--scanline-share`` draw those shares of them with the second and third generators, each written apart
from the others: ``models.training.beamsim`` and ``models.training.scanline``) or a folder
(see ``models.training.data``). Validation Dice is computed every epoch (unless ``--val-fraction 0`` trains on
every image of a folder, when the last epoch is the result); each epoch writes ``last`` and (when better)
``best`` weights to ``--out`` through ``save_weights`` (MANIFEST.json with sha256), with ``config.json``
and ``metrics.json`` (the per-epoch history) beside them. ``--init DIR`` fine-tunes from a weights
directory (the shipped ``weights/`` or a run folder); ``--input-transform`` changes what the network makes
of its input (``UNetArgs.input_transform``; from an ``--init`` model the first layer keeps its B-mode
weights); ``--export DIR --name NAME`` adds the best model to another weights folder.

Each epoch also writes ``<out>/checkpoint.pt`` (model, optimiser, schedule, random states, history and the
best weights so far); ``--resume`` continues an interrupted run from it with the same options (the data
are regenerated or reread, ``--max-minutes`` counts from the restart).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.training import beamsim, scanline, synth
from models.training.augment import augment
from models.training.data import load_folder, read_textures, split_indices, to_batch
from models.training.evaluate import evaluate, parse_size
from models.training.options import TrainConfig, build_parser, config_problem
from models.unet import MODEL_REGISTRY, UNet, UNetArgs, build_model
from models.weights import load_model, save_weights

__all__ = ["TrainConfig", "data_info", "main", "train"]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def _data(cfg: TrainConfig, size: tuple[int, int], view: str = "screen") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val", "test"?}`` -> ``(images (N, h, w, 3) uint8, labels (N, h, w) uint8)``.

    Synthetic frames are made as the model will see them (``view``: the screen, or the picture alone); a
    folder's images are taken as they are.
    """
    if cfg.data == "synth":
        tex = read_textures(cfg.texture_dir)
        ranges = replace(  # frames made at the model input size
            synth.TRAIN_RANGES, size=size, view=view, no_tendon_share=cfg.no_tendon_share, dome_share=cfg.dome_share
        )
        out = {
            "train": _synth_train(cfg, ranges, tex),
            "val": synth.make_dataset(cfg.val_count, cfg.seed + 1, ranges, tex),
        }
    else:
        images, labels = load_folder(cfg.data, size)
        # --val-fraction 0: every image trains and no epoch is validated (the last one is kept)
        train_idx, val_idx = split_indices(len(images), cfg.seed, cfg.val_fraction, cfg.folds, cfg.fold)
        out = {
            "train": (images[train_idx], labels[train_idx]),
            "val": (images[val_idx], labels[val_idx]) if len(val_idx) else None,
        }
    if cfg.test == "synth-heldout":
        # A different seed (1000 + seed) and parameter ranges outside the training ranges.
        heldout = replace(synth.HELDOUT_RANGES, size=size, view=view)
        out["test"] = synth.make_dataset(cfg.test_count, 1000 + cfg.seed, heldout)
    elif cfg.test is not None:
        out["test"] = load_folder(cfg.test, size, split="test")
    return out


# The generators that draw the ultrasound picture alone, by the name of their share option (``--NAME-share``,
# ``TrainConfig.NAME_share``).
PICTURE_GENERATORS = {"beamsim": beamsim, "scanline": scanline}


def _synth_train(cfg: TrainConfig, ranges: synth.SynthRanges, tex) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic training frames: ``--synth-count`` of them, the ``--beamsim-share`` and
    ``--scanline-share`` of those drawn by the picture generators (``picture_counts``) and the rest by the
    first, whose seeds stay those of a run without the shares."""
    counts = picture_counts(cfg)
    if counts and ranges.view != "picture":
        raise ValueError(f"{', '.join(counts)} draw pictures only: the shares need --input-view picture")
    parts = [synth.make_dataset(cfg.synth_count - sum(counts.values()), cfg.seed, ranges, tex)]
    parts += [PICTURE_GENERATORS[name].make_dataset(n, cfg.seed, tuple(ranges.size), tex) for name, n in counts.items()]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def picture_counts(cfg: TrainConfig) -> dict[str, int]:
    """How many of the synthetic training frames each picture generator draws (those with any); never more than
    ``--synth-count`` together (two halves of an odd count both round up)."""
    counts, left = {}, cfg.synth_count
    for name in PICTURE_GENERATORS:
        counts[name] = min(round(cfg.synth_count * getattr(cfg, f"{name}_share")), left)
        left -= counts[name]
    return {name: n for name, n in counts.items() if n}


def class_weights(labels: np.ndarray, channels: int) -> torch.Tensor | None:
    """Cross-entropy weights ``(channels,)`` for a multi-class head: ``(max frequency / frequency) ** 0.5``.

    Small structures (a vessel covering 1 % of the frame) otherwise drown in the background's loss and
    stay unpredicted for hundreds of steps; the square root keeps rare classes from dominating.
    """
    if channels == 1:
        return None
    counts = np.bincount(labels.ravel(), minlength=channels)[:channels].astype(np.float64) + 1.0
    return torch.tensor((counts.max() / counts) ** 0.5, dtype=torch.float32)


def _loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    dice: str = "batch",
    fp_weight: float = 0.5,
) -> torch.Tensor:
    """BCE (1 channel) or weighted cross-entropy (K+1 channels) plus a soft overlap term over the
    foreground classes.

    ``dice="batch"`` pools the batch's pixels per class; ``"image"`` takes each image's term per class and
    averages them, as the per-image Dice metric does: a structure missed in one image, or predicted in an
    image without it, then costs that image's whole term. The term is the Tversky index
    ``TP / (TP + a FP + (1 - a) FN)`` with ``a = fp_weight``; at 0.5 it is the soft Dice (the smoothing
    constant, 0.5 here, is the Dice's 1 halved, so both give the same number)."""
    if logits.shape[1] == 1:
        t = target[:, None].float()
        prob = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, t)
    else:
        t = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).float()[:, 1:]
        prob = logits.softmax(1)[:, 1:]
        ce = F.cross_entropy(logits, target.long(), weight=weight)
    dims = (0, 2, 3) if dice == "batch" else (2, 3)
    inter = (prob * t).sum(dims)
    false_pos, missed = prob.sum(dims) - inter, t.sum(dims) - inter
    soft = (inter + 0.5) / (inter + fp_weight * false_pos + (1 - fp_weight) * missed + 0.5)
    return ce + (1 - soft).mean()


def _progress(epoch: int, epochs: int, step: int, steps: int, loss: float, t0: float) -> None:
    done = int(30 * step / steps)
    rate = step / max(time.perf_counter() - t0, 1e-9)
    bar = "#" * done + "." * (30 - done)
    sys.stderr.write(f"\repoch {epoch}/{epochs} [{bar}] {step}/{steps} loss {loss:.4f} {rate:.2f} it/s")
    sys.stderr.flush()


def _model(cfg: TrainConfig, device: torch.device) -> tuple[UNet, UNetArgs, str]:
    """The network to train, and its args (``--input-size`` overrides the input size: the U-Net is fully
    convolutional, so a model trained at one size fine-tunes at another)."""
    size = parse_size(cfg.input_size)
    if cfg.init is not None:
        directory, _, name = cfg.init.partition(":")  # DIR or DIR:NAME
        model, entry = load_model(directory, name or None, device)
        if model.args.presence:  # fitted to the features before fine-tuning: fit it anew afterwards
            model = model.without_presence()
            print(
                "the presence head of --init is left out; fit one to the trained model with "
                "python -m models.training.presence",
                file=sys.stderr,
            )
        expected = 1 if cfg.classes == 1 else cfg.classes + 1
        if model.args.out_channels != expected:
            if not cfg.new_head:
                raise ValueError(
                    f"--init model {entry.name!r} has {model.args.out_channels} output channels, --classes "
                    f"{cfg.classes} needs {expected}; fine-tune a model trained for the same classes, or add "
                    "--new-head to keep its features and learn a new output layer"
                )
            # a 1x1 convolution from the last features, freshly initialised
            model.head = torch.nn.Conv2d(model.head.in_channels, expected, kernel_size=1).to(device)
            model.args = replace(model.args, out_channels=expected)
        args = model.args if size is None else replace(model.args, input_size=size)
        if cfg.input_view is not None:
            args = replace(args, input_view=cfg.input_view)
        if cfg.context is not None and cfg.context != args.context:  # added blocks start without effect
            model = model.rebuilt(replace(args, context=cfg.context))
            args = model.args
        if cfg.input_transform is not None and cfg.input_transform != args.input_transform:
            model = _with_transform(model, replace(args, input_transform=cfg.input_transform), entry.architecture)
            return model.to(device).train(), model.args, entry.architecture
        model.args = args
        return model.train(), args, entry.architecture
    base = MODEL_REGISTRY[cfg.arch]()
    args = UNetArgs(**{**base.to_dict(), "out_channels": 1 if cfg.classes == 1 else cfg.classes + 1})
    args = args if size is None else replace(args, input_size=size)
    if cfg.input_transform is not None:
        args = replace(args, input_transform=cfg.input_transform)
    if cfg.input_view is not None:
        args = replace(args, input_view=cfg.input_view)
    if cfg.context is not None:
        args = replace(args, context=cfg.context)
    return build_model(cfg.arch, args).to(device), args, cfg.arch


def _with_transform(model: UNet, args: UNetArgs, arch: str) -> UNet:
    """A copy of ``model`` with ``args`` (another ``input_transform``): every tensor carries over; the
    first convolution keeps the weights of the input channels both sides share (channel 0, the B-mode)
    and starts the others at zero."""
    new = build_model(arch, args)
    state = new.state_dict()
    for key, tensor in model.state_dict().items():
        if state[key].shape == tensor.shape:
            state[key] = tensor.clone()
        else:  # the stem's first convolution: (out, in, 3, 3) with another `in`
            shared = min(tensor.shape[1], state[key].shape[1])
            state[key] = torch.zeros_like(state[key])
            state[key][:, :shared] = tensor[:, :shared]
    new.load_state_dict(state)
    return new


def _save_checkpoint(path: Path, **parts: Any) -> None:
    """Write the resumable state atomically (a kill mid-write leaves the previous checkpoint)."""
    tmp = path.with_suffix(".tmp")
    torch.save(parts, tmp)
    tmp.replace(path)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training; returns the metrics written to ``<out>/metrics.json``."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    device = _device(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.__dict__, indent=2) + "\n")
    model, args, arch = _model(cfg, device)
    t_data = time.perf_counter()
    data = _data(cfg, args.input_size, args.input_view)
    train_x, train_y = data["train"]
    weight = class_weights(train_y, args.out_channels)
    weight = None if weight is None else weight.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * cfg.steps_per_epoch
    warm = max(1, total // 20)  # linear warm-up over 5 % of the steps, then cosine decay to 1 %
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
    )
    model = model.to(memory_format=torch.channels_last)
    ema = None
    if cfg.ema is not None:
        # Parameters and BatchNorm statistics averaged over the last ~1 / (1 - decay) steps; validation,
        # checkpoints and the test score use the average. Its validation curve is steadier; on usgra-seg
        # it did not raise the test score (weights/README.md).
        multi_avg = torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema)
        ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=multi_avg, use_buffers=True)
    scored = model if ema is None else ema.module
    score = {"tta": cfg.tta, "min_component": cfg.min_component}
    history, best, best_state, first_epoch = [], -1.0, None, 1
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        rng.bit_generator.state = ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        history, best, best_state = ckpt["history"], ckpt["best"], ckpt["best_state"]
        first_epoch = ckpt["epoch"] + 1
        if cfg.progress:
            sys.stderr.write(f"resumed after epoch {ckpt['epoch']} (best val {best:.4f})\n")
    t_start = time.perf_counter()
    data_s = t_start - t_data
    for epoch in range(first_epoch, cfg.epochs + 1):
        model.train()
        t0, losses = time.perf_counter(), []
        for step in range(1, cfg.steps_per_epoch + 1):
            idx = rng.integers(0, len(train_x), cfg.batch_size)
            xb, yb = augment(rng, train_x[idx], train_y[idx], cfg.augment)
            x = to_batch(xb, args.in_channels, device)
            y = torch.from_numpy(yb).to(device)
            loss = _loss(model(x), y, weight, cfg.dice_loss, cfg.fp_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            losses.append(float(loss.detach()))
            if cfg.progress:
                _progress(epoch, cfg.epochs, step, cfg.steps_per_epoch, float(np.mean(losses[-20:])), t0)
        val = None if data["val"] is None else evaluate(scored, *data["val"], **score)
        record = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "val": val,
            "seconds": round(time.perf_counter() - t_start, 1),
        }
        history.append(record)
        if cfg.progress:
            sys.stderr.write(f"\n{json.dumps(record)}\n")
        meta = {"training": {**cfg.__dict__, "epoch": epoch}, "data": data_info(cfg)}
        if val is not None and val["dice"] is not None and val["dice"] > best:
            best = val["dice"]
            best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
            save_weights(scored, args, out, "best", architecture=arch, metrics={"val": val}, **meta)
        save_weights(scored, args, out, "last", architecture=arch, metrics={"val": val}, **meta)
        if cfg.keep_epochs:  # every epoch's model, for a choice on data the run never sees (held-out val)
            save_weights(scored, args, out, f"epoch{epoch:02d}", architecture=arch, metrics={"val": val}, **meta)
        (out / "metrics.json").write_text(json.dumps({"history": history}, indent=2) + "\n")
        _save_checkpoint(
            ckpt_path, model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
            ema=None if ema is None else ema.state_dict(), rng=rng.bit_generator.state,
            torch_rng=torch.get_rng_state(), history=history, best=best, best_state=best_state, epoch=epoch,
        )  # fmt: skip
        if cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes:
            break
    model = scored
    if best_state is not None:
        model.load_state_dict(best_state)
    metrics: dict[str, Any] = {
        "history": history,
        "best_val": best if best >= 0 else None,
        "train_seconds": round(time.perf_counter() - t_start, 1),
        "data_seconds": round(data_s, 1),
        "steps": len(history) * cfg.steps_per_epoch,
    }
    if "test" in data:
        metrics["test"] = evaluate(model, *data["test"], **score)
        if cfg.progress:
            sys.stderr.write(f"test {json.dumps(metrics['test'])}\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if cfg.export is not None:
        summary = {"best_val": metrics["best_val"], "test": metrics.get("test"), "epochs": len(history)}
        save_weights(
            model.to(memory_format=torch.contiguous_format), args, cfg.export, cfg.name, architecture=arch,
            training=cfg.__dict__, data=data_info(cfg), metrics=summary,
        )  # fmt: skip
    return metrics


def data_info(cfg: TrainConfig) -> dict[str, Any]:
    """The manifest's ``data`` record of a run: the folder, or the generator version and seeds."""
    if cfg.data != "synth":
        return {"source": cfg.data, "test": cfg.test}
    counts = picture_counts(cfg)
    return {
        "source": "synth",
        "generator": synth.GENERATOR_VERSION,
        "seed": cfg.seed,
        "train_count": cfg.synth_count,
        "val_seed": cfg.seed + 1,
        "test": cfg.test,
        "test_seed": 1000 + cfg.seed if cfg.test == "synth-heldout" else None,
        "texture_dir": cfg.texture_dir,
    } | {
        name: {"generator": PICTURE_GENERATORS[name].GENERATOR_VERSION, "seed": cfg.seed, "train_count": n}
        if (n := counts.get(name))
        else None
        for name in PICTURE_GENERATORS
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    ns = build_parser().parse_args(argv)
    fields = {k: v for k, v in vars(ns).items() if k != "quiet"}
    cfg = TrainConfig(**fields, progress=not ns.quiet)
    problem = config_problem(cfg)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    metrics = train(cfg)
    print(json.dumps({"best_val": metrics["best_val"], "test": metrics.get("test"), "out": cfg.out}))
    if metrics["history"][-1]["val"] is None:
        return 0  # trained without validation (--val-fraction 0)
    return 0 if metrics["best_val"] is not None and not math.isnan(metrics["best_val"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

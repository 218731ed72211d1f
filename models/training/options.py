"""The options of a training run: ``TrainConfig`` (written to ``<out>/config.json``), the command line that
fills it (``neovasc train``, ``python -m models.training.train``) and the checks it must pass."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from models.training import synth
from models.training.augment import AUGMENTATIONS
from models.training.evaluate import option_problem
from models.transforms import INPUT_TRANSFORMS
from models.unet import INPUT_VIEWS, MODEL_REGISTRY

DESCRIPTION = "Train the segmentation U-Net: ``python -m models.training.train`` or ``neovasc train``."
DICE_LOSSES = ("batch", "image")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; written to ``<out>/config.json``."""

    data: str = "synth"
    test: str | None = None
    arch: str = "unet_small"
    classes: int = 1
    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    synth_count: int = 2000
    val_count: int = 200
    val_fraction: float = 0.15
    folds: int = 0  # > 1: cross-validation, the folder's images split into this many folds...
    fold: int = 0  # ...of which this one validates (see models.training.data.FOLD_SPLIT_SEED)
    test_count: int = 300
    texture_dir: str | None = None
    no_tendon_share: float = synth.NO_TENDON_SHARE  # synthetic frames without a tendon
    dome_share: float = 0.0  # synthetic tendons draped over a round bony head
    beamsim_share: float = 0.0  # training frames from the second generator (models.training.beamsim)
    scanline_share: float = 0.0  # training frames from the third generator (models.training.scanline)
    augment: str = "basic"
    dice_loss: str = "batch"  # soft Dice pooled over the batch, or per image ("image")
    fp_weight: float = 0.5  # Tversky weight of the overlap term's false positives (0.5: the soft Dice)
    input_size: str | None = None  # "HxW"; None: the architecture's (or the --init model's)
    init: str | None = None
    input_transform: str | None = None  # None: the architecture's (or the --init model's)
    input_view: str | None = None  # None: the architecture's (or the --init model's)
    context: int | None = None  # None: the architecture's (or the --init model's); see UNetArgs.context
    keep_epochs: bool = False  # also keep each epoch's model as epochNN in the run folder
    resume: bool = False
    out: str = "runs/latest"
    device: str = "auto"
    threads: int = 2
    max_minutes: float | None = None
    ema: float | None = None  # decay of an exponential moving average of the weights; None: off
    tta: bool = False  # also score with horizontal-flip test-time averaging
    min_component: float = 0.0  # also score after dropping predicted regions below this fraction of the input
    new_head: bool = False  # --init from a model with other classes: keep its features, learn a new output layer
    export: str | None = None
    name: str = "tendon_unet_small"
    progress: bool = True


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="neovasc train", description=DESCRIPTION)
    p.add_argument("--data", default=d.data, help="'synth' or a dataset folder (imagesTr/+labelsTr/ or images/+masks/)")
    p.add_argument("--test", default=d.test, help="'synth-heldout' or a folder with a test split")
    p.add_argument("--arch", default=d.arch, choices=sorted(MODEL_REGISTRY))
    p.add_argument("--classes", type=int, default=d.classes, help="foreground classes (1 = binary tendon mask)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed, help="RNG seed; also picks the validation split of a folder")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=d.val_fraction,
        help="share of a folder's images held for validation; 0: train on all and keep the last epoch",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=d.folds,
        help="cross-validation: split a folder into this many fixed folds (the same for every --seed) ...",
    )
    p.add_argument("--fold", type=int, default=d.fold, help="... and validate on this one (0-based)")
    p.add_argument("--synth-count", type=int, default=d.synth_count, help="synthetic training frames cached")
    p.add_argument("--val-count", type=int, default=d.val_count, help="synthetic validation frames")
    p.add_argument("--test-count", type=int, default=d.test_count, help="held-out synthetic test frames")
    p.add_argument("--texture-dir", default=d.texture_dir, help="real B-mode PNGs blended into synthetic tissue")
    p.add_argument(
        "--no-tendon-share", type=float, default=d.no_tendon_share,
        help="share of synthetic frames without a tendon",
    )  # fmt: skip
    p.add_argument(
        "--dome-share", type=float, default=d.dome_share,
        help="share of synthetic tendons draped along the arc of a round bony head (supraspinatus, common extensor)",
    )  # fmt: skip
    p.add_argument(
        "--beamsim-share", type=float, default=d.beamsim_share,
        help="share of the --synth-count training frames drawn by the second generator, models.training.beamsim "
        "(pictures only: needs --input-view picture); validation stays on the first generator",
    )  # fmt: skip
    p.add_argument(
        "--scanline-share", type=float, default=d.scanline_share,
        help="share of the --synth-count training frames drawn by the third generator, models.training.scanline "
        "(pictures only, like --beamsim-share; the two shares together at most 1)",
    )  # fmt: skip
    p.add_argument(
        "--augment",
        default=d.augment,
        choices=AUGMENTATIONS,
        help="basic: flips and intensity; affine: also random scale, rotation and shift (for small real data "
        "sets); strong: affine plus random gamma, blur and noise; style: the grey restyled as another scanner's "
        "(speckle grain, grey curve, speckle noise, edge enhancement), the geometry and the colour left alone; "
        "rescan: style, after the picture is formed again as another probe would (new speckle over the same "
        "echogenicity, resolution down and across, depth gain)",
    )
    p.add_argument(
        "--dice-loss",
        default=d.dice_loss,
        choices=DICE_LOSSES,
        help="soft Dice term pooled over the batch (default) or averaged per image, like the metric",
    )
    p.add_argument(
        "--fp-weight", type=float, default=d.fp_weight, metavar="ALPHA",
        help="the overlap term as a Tversky index: false positives weigh ALPHA, misses 1 - ALPHA "
        "(0.5, the default: the soft Dice; above 0.5 an outline spilling past the tendon costs more)",
    )  # fmt: skip
    p.add_argument("--input-size", default=d.input_size, metavar="HxW", help="model input size (default: the arch's)")
    p.add_argument(
        "--init", default=d.init, help="fine-tune from the first model of this weights folder (DIR:NAME: that model)"
    )
    p.add_argument(
        "--input-transform",
        default=d.input_transform,
        choices=sorted(INPUT_TRANSFORMS),
        help="minmax: B-mode estimate + colour presence; fill: the B-mode with Doppler colour filled from the "
        "grey around it (colour-blind). Default: the architecture's, or the --init model's",
    )
    p.add_argument(
        "--input-view",
        default=d.input_view,
        choices=INPUT_VIEWS,
        help="screen: the whole frame; picture: the ultrasound picture alone, cropped by the pipeline. "
        "Default: the architecture's, or the --init model's",
    )
    p.add_argument(
        "--context",
        type=int,
        default=d.context,
        metavar="N",
        help="global self-attention blocks on the bottleneck (0: none); with --init, added blocks start "
        "without effect. Default: the architecture's, or the --init model's",
    )
    p.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also keep each epoch's model (epoch01, epoch02...) in --out, to choose one on held-out data",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint.pt (same options)"
    )
    p.add_argument(
        "--new-head",
        action="store_true",
        help="with --init from a model trained for other classes: keep its features, learn a new output layer",
    )
    p.add_argument("--out", default=d.out, help="run folder: weights, config.json, metrics.json")
    p.add_argument("--device", default=d.device, choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop after the epoch that passes this")
    p.add_argument("--ema", type=float, default=d.ema, metavar="DECAY", help="score and save an EMA of the weights")
    p.add_argument("--tta", action="store_true", help="also report Dice with horizontal-flip test-time averaging")
    p.add_argument(
        "--min-component",
        type=float,
        default=d.min_component,
        metavar="FRACTION",
        help="also report Dice after dropping predicted regions smaller than this fraction of the input",
    )
    p.add_argument("--export", default=d.export, help="also save the best model into this weights folder")
    p.add_argument("--name", default=d.name, help="model name for --export")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_problem(cfg: TrainConfig) -> str | None:
    """What is wrong with ``cfg``'s options, as a message naming the option; None when nothing is."""
    if cfg.classes < 1 or cfg.epochs < 1 or cfg.steps_per_epoch < 1 or cfg.batch_size < 1:
        return "--classes, --epochs, --steps-per-epoch and --batch-size must be >= 1"
    if cfg.context is not None and cfg.context < 0:
        return f"--context is a number of blocks >= 0, got {cfg.context}"
    if not 0.0 <= cfg.val_fraction < 1.0:
        return f"--val-fraction is a share in [0, 1), e.g. 0.15; got {cfg.val_fraction}"
    if cfg.folds == 1 or cfg.folds < 0 or (cfg.folds > 1 and not 0 <= cfg.fold < cfg.folds):
        return f"--folds is 0 (off) or >= 2 and --fold in [0, --folds); got {cfg.folds}, {cfg.fold}"
    if not 0.0 <= cfg.no_tendon_share < 1.0:
        return f"--no-tendon-share is a share in [0, 1), e.g. 0.16; got {cfg.no_tendon_share}"
    if not 0.0 <= cfg.dome_share < 1.0:
        return f"--dome-share is a share in [0, 1), e.g. 0.2; got {cfg.dome_share}"
    for option, share in (("--beamsim-share", cfg.beamsim_share), ("--scanline-share", cfg.scanline_share)):
        if not 0.0 <= share <= 1.0:
            return f"{option} is a share in [0, 1], e.g. 0.5; got {share}"
        if share > 0 and (cfg.data != "synth" or cfg.input_view == "screen"):
            return f"{option} needs --data synth and a picture model (that generator draws pictures only)"
    if cfg.beamsim_share + cfg.scanline_share > 1.0:
        return f"--beamsim-share plus --scanline-share is at most 1; got {cfg.beamsim_share + cfg.scanline_share}"
    if not 0.0 < cfg.fp_weight < 1.0:
        return f"--fp-weight is a weight in (0, 1), e.g. 0.5 (the soft Dice); got {cfg.fp_weight}"
    if cfg.ema is not None and not 0.0 < cfg.ema < 1.0:
        return f"--ema is a decay in (0, 1), e.g. 0.995; got {cfg.ema}"
    return option_problem(cfg.min_component, cfg.input_size, "--input-size")

"""Training of the segmentation U-Net: synthetic frames, labelled folders, augmentation, scoring and
cross-validation. Inference (``models``) never imports this package: the Docker image keeps only this
file of it (``.dockerignore``), and still segments.

The command lines are the modules themselves: ``python -m models.training.train`` (``neovasc train``),
``python -m models.training.evaluate`` and ``python -m models.training.crossval``. The names below are
imported on first use, so that running one of those modules does not find it already imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.training.crossval import CrossValidationError, cross_validate
    from models.training.data import DatasetLayoutError, load_folder, split_indices
    from models.training.evaluate import dice_per_class, scores
    from models.training.options import TrainConfig
    from models.training.synth import HELDOUT_RANGES, TRAIN_RANGES, SynthSample, make_dataset, make_sample

_SOURCE = {
    "CrossValidationError": "crossval",
    "cross_validate": "crossval",
    "DatasetLayoutError": "data",
    "load_folder": "data",
    "split_indices": "data",
    "dice_per_class": "evaluate",
    "scores": "evaluate",
    "HELDOUT_RANGES": "synth",
    "TRAIN_RANGES": "synth",
    "SynthSample": "synth",
    "make_dataset": "synth",
    "make_sample": "synth",
    "TrainConfig": "options",
}

__all__ = [
    "HELDOUT_RANGES",
    "TRAIN_RANGES",
    "CrossValidationError",
    "DatasetLayoutError",
    "SynthSample",
    "TrainConfig",
    "cross_validate",
    "dice_per_class",
    "load_folder",
    "make_dataset",
    "make_sample",
    "scores",
    "split_indices",
]


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

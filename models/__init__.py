"""Tendon segmentation: the U-Net, its transforms, self-describing weights and the predictor."""

from models.predictor import Assessment, TendonSegmenter, load_segmenter
from models.transforms import InvalidInputError
from models.unet import MODEL_REGISTRY, UNet, UNetArgs, UnknownModelError, build_model
from models.weights import (
    HashMismatchError,
    MalformedManifestError,
    ManifestEntry,
    ModelNotFoundError,
    ShapeMismatchError,
    UnknownArchitectureError,
    WeightsError,
    WeightsFileMissingError,
    load_model,
    read_manifest,
    save_weights,
)

__all__ = [
    "MODEL_REGISTRY",
    "Assessment",
    "HashMismatchError",
    "InvalidInputError",
    "MalformedManifestError",
    "ManifestEntry",
    "ModelNotFoundError",
    "ShapeMismatchError",
    "TendonSegmenter",
    "UNet",
    "UNetArgs",
    "UnknownArchitectureError",
    "UnknownModelError",
    "WeightsError",
    "WeightsFileMissingError",
    "build_model",
    "load_model",
    "load_segmenter",
    "read_manifest",
    "save_weights",
]

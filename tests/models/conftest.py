"""Shared fixtures for the models tests: a fixed seed and tiny, fast models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from models import TendonSegmenter, UNet, UNetArgs, build_model, save_weights

# Small enough that a forward pass over a few 64x64 frames takes milliseconds on two CPU cores.
TINY_ARGS = UNetArgs(in_channels=2, out_channels=1, base_channels=4, depth=2, input_size=(64, 64))
TINY_ARCH = "unet_tiny"


@pytest.fixture(autouse=True)
def seed() -> int:
    """Fix torch's global RNG so weight initialisation is the same on every run."""
    torch.manual_seed(0)
    return 0


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    """A seeded numpy generator for test frames."""
    return np.random.default_rng(seed)


def _randomize_batchnorm(model: UNet) -> UNet:
    """Give BatchNorm layers non-trivial running stats so save/load tests cover every tensor."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture
def tiny_model() -> UNet:
    """An untrained tiny U-Net in eval mode, built through the registry with explicit args."""
    return _randomize_batchnorm(build_model(TINY_ARCH, TINY_ARGS))


@pytest.fixture
def tiny_args() -> UNetArgs:
    """The tiny architecture: 2 input channels, 4 base channels, depth 2, 64x64 input."""
    return TINY_ARGS


@pytest.fixture
def constant_segmenter(tiny_model: UNet) -> Callable[[float], TendonSegmenter]:
    """Factory: a segmenter whose output logit is ``bias`` everywhere (+10 -> all tendon, -10 -> none)."""

    def make(bias: float) -> TendonSegmenter:
        with torch.no_grad():
            tiny_model.head.weight.zero_()
            tiny_model.head.bias.fill_(bias)
        return TendonSegmenter(tiny_model, name=f"constant{bias:+g}", sha256="0" * 64)

    return make


@pytest.fixture
def segmenter(tiny_model: UNet) -> TendonSegmenter:
    """A segmenter around the tiny model, not backed by a file."""
    return TendonSegmenter(tiny_model, name="tiny", sha256="0" * 64)


@pytest.fixture
def weights_dir(tmp_path: Path, tiny_model: UNet) -> Path:
    """A weights directory holding the tiny model as entry ``tiny``."""
    save_weights(
        tiny_model,
        TINY_ARGS,
        tmp_path,
        "tiny",
        architecture=TINY_ARCH,
        training={"epochs": 0, "note": "untrained test model"},
        data={"generator": "none", "seed": 0},
        metrics={"dice": None},
    )
    return tmp_path


def export_onnx(weights_dir: Path, name: str, frames: np.ndarray) -> TendonSegmenter:
    """Export model ``name`` of ``weights_dir`` to ONNX, check the graph against torch on ``frames`` (the
    largest probability difference under 1e-4), list it in the manifest and load the folder's first model
    with ONNX Runtime. Skips the test where ONNX Runtime or the exporter is not installed."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from models.training.onnx_export import check_graph, export_graph
    from models.weights import attach_onnx_graph, load_model

    model, _ = load_model(weights_dir, name, "cpu")
    graph = export_graph(model)
    assert check_graph(model, graph, frames) < 1e-4
    attach_onnx_graph(weights_dir, name, graph)
    fast = TendonSegmenter.from_weights(weights_dir, device="cpu")
    assert fast.runtime == "onnxruntime"
    return fast

"""One model-loading path: the device of the analysis reaches the tendon model, loaded once per folder and device."""

from __future__ import annotations

import pytest

from app import cli
from app.config import Settings, get_settings
from app.errors import NoTendonModel
from app.pipeline import AnalyzeOptions, analyze
from app.pipeline.segmenter import installed_model, tendon_model


class _Model:
    name, sha256 = "fake", "0" * 64

    def __init__(self, device: str) -> None:
        self.device = device

    def predict(self, frames, *, area=None):
        import numpy as np

        masks = np.zeros(frames.shape[:3], bool)
        masks[:, 30:90, 20:140] = True
        return masks


@pytest.fixture
def loads(monkeypatch):
    """Record every load of the shipped model with its device; each load gives a fake model."""
    import models

    calls: list[str] = []

    def load(directory, device="cpu", runtime="auto"):
        calls.append(device)
        return _Model(device)

    monkeypatch.setattr(models, "load_segmenter", load)
    installed_model.cache_clear()
    yield calls
    installed_model.cache_clear()


def test_loaded_once_per_folder_and_device(loads, empty_weights):
    first = installed_model(empty_weights, "cpu")
    assert installed_model(empty_weights, "cpu") is first
    assert installed_model(empty_weights, "cuda") is not first
    assert loads == ["cpu", "cuda"]


def test_no_model_installed_is_a_named_error(empty_weights):
    installed_model.cache_clear()
    assert installed_model(empty_weights, "cpu") is None
    with pytest.raises(NoTendonModel, match="no tendon model is installed"):
        tendon_model(empty_weights, "cpu")


def test_python_callers_follow_neovasc_device(loads, doppler_png, empty_weights):
    """``AnalyzeOptions()`` takes the device from the settings (NEOVASC_DEVICE) for the model and the counter."""
    result = analyze(doppler_png[0], AnalyzeOptions(), settings=Settings(weights_dir=empty_weights, device="cpu"))
    assert loads == ["cpu"] and result.device == "cpu" and result.roi.source == "model"


def test_cli_device_reaches_the_tendon_model(loads, monkeypatch, doppler_png, empty_weights, capsys):
    """``neovasc grade --device cpu`` loads the model on the CPU even when NEOVASC_DEVICE says otherwise."""
    monkeypatch.setenv("NEOVASC_WEIGHTS_DIR", str(empty_weights))
    monkeypatch.setenv("NEOVASC_DEVICE", "auto")
    get_settings.cache_clear()
    try:
        assert cli.main(["grade", str(doppler_png[0]), "--device", "cpu"]) == 0
    finally:
        get_settings.cache_clear()
    assert loads == ["cpu"]
    assert '"device":"cpu"' in capsys.readouterr().out


def test_cuda_without_a_gpu_is_refused_before_any_model_loads(loads, doppler_png, empty_weights):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    from app.errors import DeviceUnavailable

    with pytest.raises(DeviceUnavailable):
        analyze(doppler_png[0], AnalyzeOptions(device="cuda"), settings=Settings(weights_dir=empty_weights))
    assert loads == []

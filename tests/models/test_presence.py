"""The presence head: does the picture hold a tendon at all? A second output beside the outline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models import TendonSegmenter, UNet, UNetArgs, save_weights
from models.batching import BatchedForward
from models.training.presence import attach_head, features, fit_logistic, segmentation_only
from tests.models.conftest import export_onnx

TINY_PRESENCE = UNetArgs(base_channels=4, depth=2, input_size=(64, 64), input_transform="fill", presence=True)


def _model(bias: float | None = None) -> UNet:
    """A tiny model with a presence head; ``bias`` sets the head to always say yes (> 0) or no (< 0)."""
    model = UNet(TINY_PRESENCE).eval()
    if bias is not None:
        with torch.no_grad():
            model.presence.linear.weight.zero_()
            model.presence.linear.bias.fill_(bias)
    return model


def test_the_head_is_a_second_output_and_leaves_the_outline_alone():
    model = _model()
    x = torch.rand(3, 2, 64, 64)
    with torch.no_grad():
        logits, presence = model.forward_with_presence(x)
        assert presence.shape == (3,)
        torch.testing.assert_close(logits, model(x))
        plain = UNet(replace(TINY_PRESENCE, presence=False)).eval()
        plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("presence.")})
        torch.testing.assert_close(plain(x), logits)
        assert plain.forward_with_presence(x)[1] is None


def test_the_manifest_of_a_model_without_the_head_reads_as_before():
    assert "presence" not in replace(TINY_PRESENCE, presence=False).to_dict()
    assert TINY_PRESENCE.to_dict()["presence"] is True
    assert UNetArgs(**TINY_PRESENCE.to_dict()) == TINY_PRESENCE


def test_a_frame_judged_to_hold_no_tendon_gets_no_mask_but_keeps_its_probabilities(rng):
    frames = rng.integers(0, 256, (2, 70, 90, 3), dtype=np.uint8)
    yes, no = (TendonSegmenter(_model(b), name="t", sha256="0" * 64) for b in (8.0, -8.0))
    with torch.no_grad():  # the same outline network in both
        no._model.load_state_dict(
            {k: v for k, v in yes._model.state_dict().items() if not k.startswith("presence.")}, strict=False
        )
        for seg in (yes, no):
            seg._model.head.bias.fill_(6.0)  # every pixel tendon
    assert yes.predict(frames).all() and not no.predict(frames).any()
    np.testing.assert_array_equal(yes.probabilities(frames), no.probabilities(frames))
    judged_yes, judged_no = yes.assess(frames), no.assess(frames)
    assert judged_yes.present.all() and not judged_no.present.any()
    assert (judged_no.presence < 0.01).all() and judged_no.presence.shape == (2,)
    plain = TendonSegmenter(UNet(replace(TINY_PRESENCE, presence=False)).eval(), name="p", sha256="0" * 64)
    assert plain.assess(frames).presence is None and plain.assess(frames).present is None


def test_duplicate_frames_share_their_presence(rng):
    frame = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    seg = TendonSegmenter(_model(), name="t", sha256="0" * 64)
    presence = seg.assess(np.concatenate([frame, other, frame])).presence
    assert presence[0] == presence[2]
    np.testing.assert_allclose(presence[1], seg.assess(other).presence[0], atol=1e-6)


def test_the_batching_thread_hands_each_caller_its_presence(rng):
    seg = TendonSegmenter(_model(), name="t", sha256="0" * 64)
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    twin = seg.batched(max_rows=8, gather_s=0.0)
    try:
        np.testing.assert_allclose(twin.assess(frames).presence, seg.assess(frames).presence, atol=1e-5)
    finally:
        twin.close()
    batcher = BatchedForward(lambda x: (x * 2, None), gather_s=0.0)
    try:
        doubled, nothing = batcher(torch.ones(2, 3))
        assert nothing is None and torch.equal(doubled, torch.full((2, 3), 2.0))
    finally:
        batcher.close()


def test_fitting_separates_what_it_is_shown_and_the_boundary_is_folded_into_the_bias():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)).astype(np.float32) * [1, 10, 0.1, 1, 1] + [0, 50, 3, 0, 0]
    y = (x[:, 1] - 50 + 5 * x[:, 0] > 0).astype(np.float32)
    weight, bias, mean, scale = fit_logistic(x, y)
    assert (((x - mean) / scale @ weight + bias > 0) == (y > 0)).mean() > 0.95
    with pytest.raises(ValueError, match="with and without"):
        fit_logistic(x, np.ones(200, np.float32))
    # folded into a model's head: the head's logit is the fitted one shifted by logit(boundary)
    model = segmentation_only(UNet(TINY_PRESENCE).eval())
    assert model.presence is None and not model.args.presence
    frames = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    f = features(model, frames)
    w = np.random.default_rng(2).normal(size=f.shape[1]).astype(np.float32) * 0.1
    mean, scale = f.mean(0), np.random.default_rng(3).uniform(0.5, 2.0, f.shape[1]).astype(np.float32)
    fitted = attach_head(model, w, 0.3, mean, scale, boundary=0.2)
    from models.training.data import to_batch

    with torch.no_grad():
        got = fitted.forward_with_presence(to_batch(frames, 2))[1].numpy()
    expected = (f - mean) / scale @ w + 0.3 - np.log(0.2 / 0.8)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_model_with_the_head_saves_loads_and_exports(tmp_path: Path, rng):
    model = _model()
    save_weights(model, model.args, tmp_path, "p", architecture="unet_small_fill", half=True)
    loaded = TendonSegmenter.from_weights(tmp_path, runtime="torch")
    assert loaded.has_presence
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert loaded.assess(frames).presence.shape == (3,)
    fast = export_onnx(tmp_path, "p", frames)
    np.testing.assert_allclose(fast.assess(frames).presence, loaded.assess(frames).presence, atol=1e-5)


def test_the_fitting_command_writes_a_model_that_says_whether_a_tendon_is_there(tmp_path: Path):
    import cv2

    from models.training.heldout import iter_heldout
    from models.training.presence import main
    from models.unet import build_unet_tiny
    from models.weights import read_manifest

    model = UNet(build_unet_tiny()).eval()
    save_weights(model, model.args, tmp_path / "w", "tiny", architecture="unet_tiny")
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(negatives / f"{i}.png"), rng.integers(0, 256, (90, 120), dtype=np.uint8))
    argv = ["--weights", str(tmp_path / "w"), "--out", str(tmp_path / "out"), "--negatives", str(negatives)]
    assert main([*argv, "--frames", "12", "--val", "2", "--reject-share", "0.1"]) == 0
    (entry,) = read_manifest(tmp_path / "out")
    record = entry.training["presence"]
    assert entry.args.presence and record["real_negatives"] == 6 and record["synthetic_frames"] == 12
    # cases on a real background are skipped where ../shared/realdata is not beside the checkout
    available = sum(1 for _ in iter_heldout(2, split="val"))
    assert 0 < record["boundary"] <= 0.5 and record["val_cases"] == available >= 1
    fitted = TendonSegmenter.from_weights(tmp_path / "out", runtime="torch")
    frames = rng.integers(0, 256, (2, 100, 100, 3), dtype=np.uint8)
    assert fitted.assess(frames).presence.shape == (2,)
    # the network's own weights are the source's, rounded to float16 as shipped
    source = TendonSegmenter.from_weights(tmp_path / "w", runtime="torch")
    np.testing.assert_allclose(fitted.probabilities(frames), source.probabilities(frames), atol=2e-3)


def test_the_fitting_command_names_what_is_wrong(tmp_path: Path, capsys):
    import json

    from models.training.presence import main

    assert main(["--weights", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 1
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert error["error"] == "ModelNotFoundError" and "none" in error["detail"]
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["--weights", str(tmp_path), "--out", str(tmp_path / "out"), "--frames", "0"])

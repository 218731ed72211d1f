"""TendonSegmenter: shapes, batching, de-duplication, post-processing, loading and input checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from models import (
    HashMismatchError,
    InvalidInputError,
    TendonSegmenter,
    UNet,
    UNetArgs,
    load_segmenter,
)
from models.predictor import keep_largest_component
from models.transforms import preprocess
from models.weights import MANIFEST_FORMAT, MANIFEST_NAME
from tests.models.conftest import export_onnx

Factory = Callable[[float], TendonSegmenter]


def _frames(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("h", "w"),
    [(1, 1), (37, 53), (200, 7), (7, 200), (64, 64), (130, 130)],
    ids=["1x1", "37x53", "tall", "wide", "model-size", "larger"],
)
def test_masks_have_the_frame_size(segmenter: TendonSegmenter, rng: np.random.Generator, h: int, w: int) -> None:
    masks = segmenter.predict(_frames(rng, 3, h, w))
    assert masks.shape == (3, h, w)
    assert masks.dtype == np.bool_


def test_single_frame_gives_a_single_mask(segmenter: TendonSegmenter, rng: np.random.Generator) -> None:
    frames = _frames(rng, 2, 37, 53)
    single = segmenter.predict(frames[0])
    assert single.shape == (37, 53)
    np.testing.assert_array_equal(single, segmenter.predict(frames)[0])


def test_no_frames_give_no_masks(segmenter: TendonSegmenter) -> None:
    assert segmenter.predict(np.zeros((0, 5, 6, 3), np.uint8)).shape == (0, 5, 6)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batch_size_does_not_change_the_result(
    segmenter: TendonSegmenter, rng: np.random.Generator, batch_size: int
) -> None:
    frames = _frames(rng, 7, 40, 48)
    np.testing.assert_array_equal(segmenter.predict(frames, batch_size=batch_size), segmenter.predict(frames))


def test_identical_frames_are_segmented_once(
    segmenter: TendonSegmenter, tiny_model: UNet, rng: np.random.Generator
) -> None:
    a, b, c = _frames(rng, 3, 30, 40)
    frames = np.stack([a, b, a, a, b, c, a])
    seen: list[int] = []
    hook = tiny_model.stem.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape[0]))
    try:
        masks = segmenter.predict(frames, batch_size=2)
    finally:
        hook.remove()
    assert sum(seen) == 3  # a, b, c
    assert seen == [2, 1]
    for i, j in [(0, 2), (0, 3), (0, 6), (1, 4)]:
        np.testing.assert_array_equal(masks[i], masks[j])
    masks[0, 0, 0] = not masks[0, 0, 0]  # duplicates are copies, not views of one array
    assert masks[0, 0, 0] != masks[2, 0, 0]


def test_strided_rgb_view_is_accepted(segmenter: TendonSegmenter, rng: np.random.Generator) -> None:
    bgr = _frames(rng, 2, 33, 45)
    rgb_view = bgr[..., ::-1]  # the usual cv2 BGR -> RGB flip, a negative-stride view
    np.testing.assert_array_equal(segmenter.predict(rgb_view), segmenter.predict(np.ascontiguousarray(rgb_view)))


def test_confident_model_fills_the_frame_or_the_area(constant_segmenter: Factory) -> None:
    segmenter = constant_segmenter(10.0)
    frames = np.zeros((2, 37, 53, 3), np.uint8)
    assert segmenter.predict(frames).all()
    masks = segmenter.predict(frames, area=(5, 3, 20, 30))
    expected = np.zeros((37, 53), bool)
    expected[3:30, 5:20] = True
    np.testing.assert_array_equal(masks, np.stack([expected, expected]))


def test_no_tendon_is_an_empty_mask_not_an_error(constant_segmenter: Factory) -> None:
    masks = constant_segmenter(-10.0).predict(np.zeros((2, 37, 53, 3), np.uint8))
    assert masks.shape == (2, 37, 53)
    assert not masks.any()


def _two_blob_probabilities() -> np.ndarray:
    """(64, 64) float map: a 10x20 blob at the top-left, a 5x5 blob at the bottom-right, noise < 0.5."""
    probs = np.full((64, 64), 0.3, dtype=np.float32)
    probs[5:15, 5:25] = 0.9
    probs[50:55, 50:55] = 0.8
    probs[30, 30] = 0.5  # exactly the threshold: not tendon (probability must exceed 0.5)
    return probs


def test_largest_component_is_kept_on_a_hand_built_map() -> None:
    mask = _two_blob_probabilities() > 0.5
    kept = keep_largest_component(mask)
    expected = np.zeros((64, 64), bool)
    expected[5:15, 5:25] = True
    np.testing.assert_array_equal(kept, expected)
    only_small = keep_largest_component(mask, area=(40, 40, 64, 64))
    expected = np.zeros((64, 64), bool)
    expected[50:55, 50:55] = True
    np.testing.assert_array_equal(only_small, expected)


def test_with_weights_the_surer_region_outweighs_a_slightly_larger_one() -> None:
    """Two regions above 0.5: 220 px at 0.55 against 200 px at 0.95. By pixels the first wins, by the summed
    probability (121 against 190) the second."""
    probs = np.full((40, 60), 0.2, dtype=np.float32)
    probs[2:13, 2:22] = 0.55
    probs[20:30, 30:50] = 0.95
    mask = probs > 0.5
    assert keep_largest_component(mask)[5, 5]
    sure = keep_largest_component(mask, weights=probs)
    assert sure[25, 40] and not sure[5, 5] and sure.sum() == 200


def test_diagonal_pixels_are_one_component_and_ties_keep_the_first() -> None:
    mask = np.zeros((6, 6), bool)
    mask[[0, 1, 2], [0, 1, 2]] = True  # a diagonal: one 8-connected component of 3
    mask[0, 4:6] = True  # 2 pixels
    np.testing.assert_array_equal(keep_largest_component(mask), np.eye(6, dtype=bool) & (np.arange(6) < 3))
    tie = np.zeros((3, 5), bool)
    tie[0, 0] = tie[2, 4] = True
    assert keep_largest_component(tie)[0, 0] and not keep_largest_component(tie)[2, 4]
    assert not keep_largest_component(np.zeros((1, 1), bool)).any()


def test_predict_post_processes_the_model_probabilities(
    segmenter: TendonSegmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    probs = torch.from_numpy(_two_blob_probabilities())

    def fake_network(x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return probs.expand(x.shape[0], 1, 64, 64), None

    monkeypatch.setattr(segmenter, "_network_outputs", fake_network)
    mask = segmenter.predict(np.zeros((64, 64, 3), np.uint8))  # model-size frame: identity letterbox
    expected = np.zeros((64, 64), bool)
    expected[5:15, 5:25] = True
    np.testing.assert_array_equal(mask, expected)


def test_predict_torch_returns_probabilities(segmenter: TendonSegmenter, tiny_args: UNetArgs) -> None:
    x, _ = preprocess(np.zeros((3, 20, 30, 3), np.uint8), tiny_args.input_size, tiny_args.in_channels)
    probs = segmenter.predict_torch(x)
    assert probs.shape == (3, 1, 64, 64)
    assert probs.dtype == torch.float32
    assert float(probs.min()) >= 0.0 and float(probs.max()) <= 1.0


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.zeros(2, 3, 64, 64), r"\(B, 2, 64, 64\).*\(2, 3, 64, 64\)"),
        (torch.zeros(2, 2, 32, 32), r"\(2, 2, 32, 32\)"),
        (torch.zeros(2, 2, 64, 64, dtype=torch.uint8), "float tensor"),
        (np.zeros((2, 2, 64, 64), np.float32), "ndarray"),
    ],
    ids=["channels", "size", "uint8", "numpy"],
)
def test_predict_torch_rejects_bad_input(segmenter: TendonSegmenter, x: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        segmenter.predict_torch(x)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frames": np.zeros((2, 8, 8, 3), np.float64)}, "uint8"),
        ({"frames": np.zeros((2, 8, 8), np.uint8)}, r"\(N, H, W, 3\).*\(2, 8, 8\)"),
        ({"frames": np.zeros((8, 8, 4), np.uint8)}, r"\(8, 8, 4\)"),
        ({"frames": [[[0, 0, 0]]]}, "numpy array"),
        ({"area": (0, 0, 9, 8)}, r"x1 <= 8"),
        ({"area": (4, 0, 4, 8)}, "0 <= x0 < x1"),
        ({"area": (-1, 0, 4, 8)}, "0 <= x0"),
        ({"area": (0, 0, 4.5, 8)}, "four integers"),
        ({"area": (0, 0, 4)}, "four integers"),
        ({"batch_size": 0}, "batch_size"),
    ],
    ids=[
        "float",
        "grey",
        "rgba",
        "list",
        "area-wide",
        "area-empty",
        "area-negative",
        "area-float",
        "area-short",
        "batch-0",
    ],
)
def test_bad_input_raises_a_named_value_error(
    segmenter: TendonSegmenter, kwargs: dict[str, object], match: str
) -> None:
    call = {"frames": np.zeros((2, 8, 8, 3), np.uint8), **kwargs}
    with pytest.raises(InvalidInputError, match=match) as info:
        segmenter.predict(**call)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_numpy_integer_area_is_accepted(constant_segmenter: Factory) -> None:
    area = tuple(np.array([1, 1, 4, 4], dtype=np.int64))
    assert constant_segmenter(10.0).predict(np.zeros((8, 8, 3), np.uint8), area=area).sum() == 9


def test_segmenter_records_its_model(weights_dir: Path) -> None:
    segmenter = TendonSegmenter.from_weights(weights_dir, "tiny")
    manifest = json.loads((weights_dir / MANIFEST_NAME).read_text())
    assert segmenter.name == "tiny"
    assert segmenter.sha256 == manifest["models"][0]["sha256"]
    assert segmenter.device == torch.device("cpu")
    assert "tiny" in repr(segmenter)


def test_load_segmenter_without_a_model_returns_none(tmp_path: Path) -> None:
    assert load_segmenter(tmp_path) is None  # no manifest at all
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": MANIFEST_FORMAT, "models": []}))
    assert load_segmenter(tmp_path) is None


def test_load_segmenter_loads_the_listed_model(weights_dir: Path, rng: np.random.Generator) -> None:
    segmenter = load_segmenter(weights_dir)
    assert segmenter is not None and segmenter.name == "tiny"
    assert segmenter.predict(_frames(rng, 1, 20, 20)).shape == (1, 20, 20)


def test_load_segmenter_raises_for_a_broken_model(weights_dir: Path) -> None:
    path = weights_dir / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(HashMismatchError):
        load_segmenter(weights_dir)


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@requires_cuda
def test_cuda_autocast_probabilities_match_cpu(weights_dir: Path, rng: np.random.Generator) -> None:
    cpu = TendonSegmenter.from_weights(weights_dir, "tiny")
    gpu = TendonSegmenter.from_weights(weights_dir, "tiny", device="cuda")
    assert gpu.device.type == "cuda"
    x, _ = preprocess(_frames(rng, 5, 90, 120), cpu.args.input_size, cpu.args.in_channels)
    probs = gpu.predict_torch(x)
    assert probs.dtype == torch.float32 and probs.device.type == "cuda"
    torch.testing.assert_close(probs.cpu(), cpu.predict_torch(x), atol=1e-2, rtol=0)


@pytest.mark.gpu
@requires_cuda
def test_cuda_predict_matches_cpu(constant_segmenter: Factory, tiny_model: UNet) -> None:
    # A confident (constant-logit) model: the untrained tiny model's logits all sit within ~0.02 of 0,
    # where float16 rounding legitimately flips pixels, so mask equality is only meaningful here.
    cpu = constant_segmenter(10.0)
    gpu = TendonSegmenter(copy.deepcopy(tiny_model).cuda(), name="gpu", sha256="0" * 64)
    frames = np.zeros((9, 37, 53, 3), np.uint8)
    for area in (None, (5, 3, 20, 30)):
        np.testing.assert_array_equal(gpu.predict(frames, area=area), cpu.predict(frames, area=area))


def _picture_segmenter(tiny_model: UNet) -> TendonSegmenter:
    from dataclasses import replace

    tiny_model.args = replace(tiny_model.args, input_view="picture")
    return TendonSegmenter(tiny_model, name="tiny-picture", sha256="0" * 64)


def test_a_picture_model_sees_only_the_picture(tiny_model: UNet, rng: np.random.Generator) -> None:
    screen = _frames(rng, 2, 90, 120)
    area = (30, 10, 100, 80)
    x0, y0, x1, y1 = area
    picture_model = _picture_segmenter(tiny_model)
    probs = picture_model.probabilities(screen, area=area)
    assert probs.shape == (2, 90, 120)
    outside = np.ones((90, 120), bool)
    outside[y0:y1, x0:x1] = False
    assert (probs[:, outside] == 0).all()
    # Inside: the same as the model given the picture alone (the screen around it changes nothing).
    np.testing.assert_allclose(probs[:, y0:y1, x0:x1], picture_model.probabilities(screen[:, y0:y1, x0:x1]), atol=1e-6)
    other = screen.copy()
    other[:, outside] = 255 - other[:, outside]
    np.testing.assert_array_equal(picture_model.predict(other, area=area), picture_model.predict(screen, area=area))


def test_a_screen_model_sees_the_whole_frame(segmenter: TendonSegmenter, rng: np.random.Generator) -> None:
    screen = _frames(rng, 1, 90, 120)
    full = segmenter.probabilities(screen)
    np.testing.assert_array_equal(segmenter.probabilities(screen, area=(30, 10, 100, 80)), full)


def test_the_onnx_graph_gives_the_torch_masks(weights_dir: Path, rng: np.random.Generator) -> None:
    from models.weights import read_manifest

    frames = rng.integers(0, 256, size=(8, 70, 90, 3), dtype=np.uint8)
    fast = export_onnx(weights_dir, "tiny", frames)
    assert read_manifest(weights_dir)[0].onnx["file"] == "tiny.onnx"
    plain = TendonSegmenter.from_weights(weights_dir, device="cpu", runtime="torch")
    assert (fast.runtime, plain.runtime) == ("onnxruntime", "torch")
    np.testing.assert_array_equal(fast.predict(frames), plain.predict(frames))


def test_a_tampered_onnx_graph_is_refused(weights_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    from models.weights import attach_onnx_graph

    attach_onnx_graph(weights_dir, "tiny", b"not a graph")
    (weights_dir / "tiny.onnx").write_bytes(b"not a graph either")
    with pytest.raises(HashMismatchError):
        TendonSegmenter.from_weights(weights_dir, device="cpu")
    assert TendonSegmenter.from_weights(weights_dir, device="cpu", runtime="torch").runtime == "torch"


def test_a_model_with_context_blocks_saves_loads_and_exports(tmp_path: Path, rng: np.random.Generator) -> None:
    from dataclasses import replace

    from models import UNet, save_weights
    from models.unet import build_unet_tiny

    torch.manual_seed(0)
    model = UNet(replace(build_unet_tiny(), context=1)).eval()
    for layer in (model.context[0].proj, model.context[0].mlp[2]):  # trained blocks are not the identity
        torch.nn.init.normal_(layer.weight, std=0.05)
    save_weights(model, model.args, tmp_path, "ctx", architecture="unet_tiny")
    plain = TendonSegmenter.from_weights(tmp_path, runtime="torch")
    assert plain.args.context == 1
    frames = rng.integers(0, 256, size=(4, 70, 90, 3), dtype=np.uint8)
    fast = export_onnx(tmp_path, "ctx", frames)
    np.testing.assert_allclose(fast.probabilities(frames), plain.probabilities(frames), atol=1e-4)


def test_onnx_sessions_are_released_before_the_interpreter_exits(weights_dir: Path, rng: np.random.Generator) -> None:
    """A session torn down after ONNX Runtime's process-wide environment can crash the exiting process: every
    open one is released by an exit hook, and a released network refuses to run rather than crash."""
    from models import onnx_runtime

    frames = rng.integers(0, 256, size=(2, 70, 90, 3), dtype=np.uint8)
    segmenter = export_onnx(weights_dir, "tiny", frames)
    network = segmenter._network
    assert network in onnx_runtime._OPEN
    onnx_runtime.release_sessions()
    assert network not in onnx_runtime._OPEN
    with pytest.raises(RuntimeError, match="closed"):
        segmenter.predict(frames)

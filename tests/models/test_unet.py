"""UNet, UNetArgs and the model registry."""

from __future__ import annotations

import pytest
import torch

from models import MODEL_REGISTRY, UNet, UNetArgs, UnknownModelError, build_model


@pytest.mark.parametrize(
    ("depth", "size"),
    [(1, (2, 2)), (2, (64, 64)), (2, (32, 96)), (3, (96, 32))],
    ids=["depth1-2x2", "depth2-square", "depth2-wide", "depth3-tall"],
)
def test_output_is_one_logit_per_input_pixel(depth: int, size: tuple[int, int]) -> None:
    args = UNetArgs(base_channels=4, depth=depth, input_size=size)
    model = build_model("unet_tiny", args).eval()
    with torch.inference_mode():
        out = model(torch.randn(3, args.in_channels, *size))
    assert out.shape == (3, 1, *size)
    assert out.dtype == torch.float32


def test_unknown_model_name_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        build_model("unet_huge")
    message = str(info.value)
    assert "'unet_huge'" in message
    for name in MODEL_REGISTRY:
        assert name in message
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_every_registered_builder_builds(name: str) -> None:
    args = MODEL_REGISTRY[name]()
    model = build_model(name)
    assert isinstance(model, UNet)
    assert model.args == args


def test_explicit_args_override_the_registry_defaults() -> None:
    args = UNetArgs(in_channels=1, base_channels=4, depth=2, input_size=(64, 64))
    assert build_model("unet_small", args).args == args


def test_default_model_fits_the_weight_budget() -> None:
    # Target: <= 20 MB of float32 weights (see build_unet_small).
    model = build_model("unet_small")
    size_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6
    assert size_mb <= 20


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_size": (60, 64), "depth": 3},
        {"input_size": (0, 64)},
        {"input_size": (64,)},
        {"base_channels": 0},
        {"depth": -1},
        {"in_channels": 2.0},
        {"out_channels": True},
        {"input_view": "window"},
        {"context": -1},
        {"context": 1, "base_channels": 3, "depth": 1, "input_size": (64, 64)},
    ],
    ids=[
        *("not-divisible", "zero-height", "one-dim", "zero-width-net", "negative-depth", "float", "bool"),
        *("view", "negative-context", "context-heads"),
    ],
)
def test_invalid_args_raise_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="UNetArgs"):
        UNetArgs(**kwargs)  # type: ignore[arg-type]


def test_args_survive_a_json_round_trip() -> None:
    args = UNetArgs(base_channels=4, depth=2, input_size=(64, 128))
    data = args.to_dict()
    assert data["input_size"] == [64, 128]
    assert UNetArgs(**data) == args
    assert hash(UNetArgs(**data)) == hash(args)


def test_input_view_is_kept_only_when_it_is_not_the_default() -> None:
    assert "input_view" not in UNetArgs().to_dict()  # manifests of screen models read as before
    args = UNetArgs(input_view="picture")
    assert args.to_dict()["input_view"] == "picture" and UNetArgs(**args.to_dict()) == args


def test_context_is_kept_only_when_the_network_has_blocks() -> None:
    assert "context" not in UNetArgs().to_dict()  # manifests of models without blocks read as before
    args = UNetArgs(context=2)
    assert args.to_dict()["context"] == 2 and UNetArgs(**args.to_dict()) == args


@pytest.mark.parametrize("size", [(64, 64), (32, 96)], ids=["square", "wide"])
def test_context_blocks_added_to_a_network_leave_its_output_unchanged(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    plain = UNet(UNetArgs(base_channels=4, depth=3, input_size=size)).eval()
    with_blocks = UNet(UNetArgs(base_channels=4, depth=3, input_size=size, context=2)).eval()
    missing = with_blocks.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("context.") for key in missing)
    x = torch.randn(2, 2, *size)
    with torch.inference_mode():
        assert torch.equal(plain(x), with_blocks(x))


def test_a_trained_context_block_mixes_the_whole_picture() -> None:
    """Once its output layers are not zero, a change in one corner of the input reaches the opposite corner
    of the bottleneck, which three levels of 3x3 convolutions alone cannot do at this size."""
    from models.unet import ContextBlock

    torch.manual_seed(0)
    block = ContextBlock(32).eval()
    for layer in (block.proj, block.mlp[2]):
        torch.nn.init.normal_(layer.weight, std=0.1)
    x = torch.randn(1, 32, 16, 16)
    moved = x.clone()
    moved[..., 0, 0] += 5.0 * torch.randn(32)  # not a constant: the layer norm would remove that
    with torch.inference_mode():
        assert not torch.allclose(block(x)[..., -1, -1], block(moved)[..., -1, -1])

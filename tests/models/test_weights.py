"""Self-describing weights: save, manifest, verified load and every failure mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from models import (
    HashMismatchError,
    MalformedManifestError,
    ModelNotFoundError,
    ShapeMismatchError,
    UNet,
    UNetArgs,
    UnknownArchitectureError,
    WeightsError,
    WeightsFileMissingError,
    build_model,
    load_model,
    read_manifest,
    save_weights,
)
from models.weights import MANIFEST_FORMAT, MANIFEST_NAME


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST_NAME).read_text())


def _edit_entry(directory: Path, **changes: Any) -> None:
    manifest = _manifest(directory)
    manifest["models"][0].update(changes)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_round_trip_gives_identical_outputs(weights_dir: Path, tiny_model: UNet, tiny_args: UNetArgs) -> None:
    loaded, entry = load_model(weights_dir, "tiny")
    assert not loaded.training
    assert entry.args == tiny_args
    x = torch.randn(2, tiny_args.in_channels, *tiny_args.input_size)
    with torch.inference_mode():
        assert torch.equal(loaded(x), tiny_model(x))


def test_manifest_describes_the_weights(weights_dir: Path, tiny_args: UNetArgs) -> None:
    manifest = _manifest(weights_dir)
    assert manifest["format"] == MANIFEST_FORMAT
    (raw,) = manifest["models"]
    assert raw["file"] == "tiny.safetensors"
    assert raw["sha256"] == hashlib.sha256((weights_dir / raw["file"]).read_bytes()).hexdigest()
    assert raw["architecture"] == "unet_tiny"
    assert raw["args"] == tiny_args.to_dict()
    assert raw["training"]["epochs"] == 0 and raw["data"]["seed"] == 0 and "dice" in raw["metrics"]
    assert [e.name for e in read_manifest(weights_dir)] == ["tiny"]
    assert not list(weights_dir.glob("*.tmp"))  # atomic writes leave no temporary files


def test_saving_again_replaces_the_entry_and_keeps_order(
    weights_dir: Path, tiny_model: UNet, tiny_args: UNetArgs
) -> None:
    save_weights(tiny_model, tiny_args, weights_dir, "second", architecture="unet_tiny")
    with torch.no_grad():
        tiny_model.head.bias.add_(1.0)
    new = save_weights(tiny_model, tiny_args, weights_dir, "tiny", architecture="unet_tiny", metrics={"v": 2})
    entries = read_manifest(weights_dir)
    assert [e.name for e in entries] == ["tiny", "second"]
    assert entries[0] == new
    _, default = load_model(weights_dir)  # name=None loads the first listed
    assert default.sha256 == new.sha256


def test_channels_last_model_saves_and_loads(tmp_path: Path, tiny_model: UNet, tiny_args: UNetArgs) -> None:
    tiny_model.to(memory_format=torch.channels_last)
    save_weights(tiny_model, tiny_args, tmp_path, "cl", architecture="unet_tiny")
    loaded, _ = load_model(tmp_path, "cl")
    assert loaded.args == tiny_args


def test_half_storage_halves_the_file_and_loads_rounded_float32_weights(
    tmp_path: Path, tiny_model: UNet, tiny_args: UNetArgs
) -> None:
    save_weights(tiny_model, tiny_args, tmp_path, "full", architecture="unet_tiny")
    save_weights(tiny_model, tiny_args, tmp_path, "half", architecture="unet_tiny", half=True)
    full, half = (tmp_path / "full.safetensors").stat().st_size, (tmp_path / "half.safetensors").stat().st_size
    assert half < 0.6 * full
    loaded, _ = load_model(tmp_path, "half")
    for key, value in loaded.state_dict().items():
        original = tiny_model.state_dict()[key]
        assert value.dtype == original.dtype  # widened back: the model still computes in float32
        if original.is_floating_point():
            assert torch.equal(value, original.to(torch.float16).to(original.dtype))
        else:
            assert torch.equal(value, original)  # e.g. BatchNorm's num_batches_tracked stays int64
    x = torch.randn(2, tiny_args.in_channels, *tiny_args.input_size)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), tiny_model(x), atol=0.05, rtol=0.01)


def test_half_storage_refuses_values_beyond_float16(tmp_path: Path, tiny_model: UNet, tiny_args: UNetArgs) -> None:
    with torch.no_grad():
        tiny_model.head.bias.fill_(1e6)
    with pytest.raises(ValueError, match="float16"):
        save_weights(tiny_model, tiny_args, tmp_path, "big", architecture="unet_tiny", half=True)
    assert not (tmp_path / "big.safetensors").exists()


def test_flipped_byte_is_a_hash_mismatch_detected_before_loading(
    weights_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = weights_dir / "tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    def fail(_: bytes) -> None:
        raise AssertionError("tensors were deserialised before the hash check")

    monkeypatch.setattr("models.weights.load_safetensors_bytes", fail)
    with pytest.raises(HashMismatchError) as info:
        load_model(weights_dir, "tiny")
    message = str(info.value)
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert _manifest(weights_dir)["models"][0]["sha256"] in message
    assert "MANIFEST.json" in message


def test_missing_file_is_reported(weights_dir: Path) -> None:
    (weights_dir / "tiny.safetensors").unlink()
    with pytest.raises(WeightsFileMissingError, match="re-download or re-train"):
        load_model(weights_dir)


@pytest.mark.parametrize(
    "file",
    ["../tiny.safetensors", "/etc/passwd", "sub/tiny.safetensors", "..", "."],
    ids=["parent", "absolute", "subdir", "dotdot", "dot"],
)
def test_manifest_path_escaping_the_directory_is_rejected(weights_dir: Path, file: str) -> None:
    # A valid file outside the directory with the right hash must still be refused.
    outside = weights_dir.parent / "tiny.safetensors"
    outside.write_bytes((weights_dir / "tiny.safetensors").read_bytes())
    _edit_entry(weights_dir, file=file)
    with pytest.raises(MalformedManifestError, match="escape the weights directory"):
        load_model(weights_dir)


def test_symlink_out_of_the_directory_is_rejected(weights_dir: Path) -> None:
    outside = weights_dir.parent / "outside.safetensors"
    outside.write_bytes((weights_dir / "tiny.safetensors").read_bytes())
    try:
        (weights_dir / "link.safetensors").symlink_to(outside)
    except OSError:
        pytest.skip("symlinks not supported here")
    _edit_entry(weights_dir, file="link.safetensors")
    with pytest.raises(MalformedManifestError, match="escape"):
        load_model(weights_dir)


def test_unknown_architecture_is_rejected(weights_dir: Path) -> None:
    _edit_entry(weights_dir, architecture="resnet_9000")
    with pytest.raises(UnknownArchitectureError, match=r"'resnet_9000'.*unet_small"):
        load_model(weights_dir)


def test_args_that_do_not_fit_the_tensors_are_a_shape_mismatch(weights_dir: Path) -> None:
    args = _manifest(weights_dir)["models"][0]["args"]
    _edit_entry(weights_dir, args={**args, "base_channels": 8})
    with pytest.raises(ShapeMismatchError, match=r"stem\.0\.weight.*re-export"):
        load_model(weights_dir)


def test_deeper_args_report_missing_tensors(weights_dir: Path) -> None:
    args = _manifest(weights_dir)["models"][0]["args"]
    _edit_entry(weights_dir, args={**args, "depth": 3})
    with pytest.raises(ShapeMismatchError, match="missing"):
        load_model(weights_dir)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other/2", "models": []}', "expected format"),
        ('["tiny"]', "expected format"),
        (f'{{"format": "{MANIFEST_FORMAT}", "models": {{}}}}', "must be a list"),
        (f'{{"format": "{MANIFEST_FORMAT}", "models": [3]}}', "must be an object"),
    ],
    ids=["json", "format", "array", "models-dict", "entry-int"],
)
def test_malformed_manifest_is_rejected(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(MalformedManifestError, match=match):
        read_manifest(tmp_path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"sha256": None}, "'sha256' must be a non-empty string"),
        ({"args": {"depth": 0}}, "not valid UNetArgs"),
        ({"args": {"width": 3}}, "not valid UNetArgs"),
        ({"metrics": [1]}, "'metrics' must be an object"),
        ({"training": []}, "'training' must be an object"),
        ({"args": None}, "'args' must be an object"),
    ],
    ids=["no-hash", "bad-depth", "unknown-field", "metrics-list", "training-list", "no-args"],
)
def test_malformed_entry_is_rejected(weights_dir: Path, changes: dict[str, Any], match: str) -> None:
    _edit_entry(weights_dir, **changes)
    with pytest.raises(MalformedManifestError, match=match):
        read_manifest(weights_dir)


def test_duplicate_names_are_rejected(weights_dir: Path) -> None:
    manifest = _manifest(weights_dir)
    manifest["models"].append(manifest["models"][0])
    (weights_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(MalformedManifestError, match="duplicate"):
        read_manifest(weights_dir)


def test_missing_or_empty_manifest_lists_nothing(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "does-not-exist") == []
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": MANIFEST_FORMAT, "models": []}))
    assert read_manifest(tmp_path) == []
    with pytest.raises(ModelNotFoundError, match="lists no model"):
        load_model(tmp_path)


def test_unknown_model_name_lists_the_manifest(weights_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"'other'.*listed: tiny"):
        load_model(weights_dir, "other")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 200])
def test_save_rejects_names_that_are_not_file_stems(tmp_path: Path, tiny_model: UNet, name: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        save_weights(tiny_model, tiny_model.args, tmp_path, name, architecture="unet_tiny")
    assert not any(tmp_path.iterdir())


def test_save_rejects_unknown_architecture_and_foreign_args(tmp_path: Path, tiny_model: UNet) -> None:
    with pytest.raises(UnknownArchitectureError):
        save_weights(tiny_model, tiny_model.args, tmp_path, "m", architecture="nope")
    other = build_model("unet_tiny").args
    with pytest.raises(ValueError, match="differ from the model"):
        save_weights(tiny_model, other, tmp_path, "m", architecture="unet_tiny")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("extra", "error"),
    [({"training": {"optimizer": object()}}, TypeError), ({"metrics": {"dice": float("nan")}}, ValueError)],
    ids=["object", "nan"],
)
def test_non_json_extras_change_nothing(
    weights_dir: Path, tiny_model: UNet, extra: dict[str, Any], error: type[Exception]
) -> None:
    before = {p.name: p.read_bytes() for p in weights_dir.iterdir()}
    with torch.no_grad():
        tiny_model.head.bias.add_(1.0)
    with pytest.raises(error):
        save_weights(tiny_model, tiny_model.args, weights_dir, "tiny", architecture="unet_tiny", **extra)
    assert {p.name: p.read_bytes() for p in weights_dir.iterdir()} == before


def test_every_weights_error_shares_the_base() -> None:
    for error in (
        HashMismatchError,
        MalformedManifestError,
        ModelNotFoundError,
        ShapeMismatchError,
        UnknownArchitectureError,
        WeightsFileMissingError,
    ):
        assert issubclass(error, WeightsError)

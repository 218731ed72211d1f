"""Self-describing weights: ``<directory>/<name>.safetensors`` plus ``<directory>/MANIFEST.json``.

The manifest records, per model, the file, its sha256, the registry architecture name, the full
``UNetArgs``, and free-form training config, data version and metrics, so a checkpoint can be rebuilt,
verified and traced without any other file::

    {"format": "neovasc.weights/1",
     "models": [{"name": ..., "file": "<name>.safetensors", "sha256": ..., "architecture": "unet_small",
                 "args": {...UNetArgs...}, "training": {...}, "data": {...}, "metrics": {...}}]}

Loading hashes the exact bytes it then deserialises (no window for the file to change in between) and
refuses manifest paths that leave the directory. Writers are assumed to be one at a time (a training
script, a release step); the manifest is replaced atomically, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from models.unet import MODEL_REGISTRY, UNet, UNetArgs, build_model

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "HashMismatchError",
    "MalformedManifestError",
    "ManifestEntry",
    "ModelNotFoundError",
    "ShapeMismatchError",
    "UnknownArchitectureError",
    "WeightsError",
    "WeightsFileMissingError",
    "attach_onnx_graph",
    "load_model",
    "read_manifest",
    "read_onnx_graph",
    "save_weights",
]

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = "neovasc.weights/1"
# Model names become file names: keep them to a portable, path-free alphabet.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class WeightsError(Exception):
    """Base of every problem with stored weights or their manifest."""


class MalformedManifestError(WeightsError):
    """MANIFEST.json is not valid JSON, has the wrong format tag or fields, or names an unsafe path."""


class ModelNotFoundError(WeightsError):
    """The requested model name is not listed in the manifest."""


class WeightsFileMissingError(WeightsError):
    """The manifest lists a weights file that does not exist."""


class HashMismatchError(WeightsError):
    """The weights file's sha256 differs from the manifest's (corrupt, truncated or replaced file)."""


class UnknownArchitectureError(WeightsError):
    """The manifest's architecture name is not in ``MODEL_REGISTRY``."""


class ShapeMismatchError(WeightsError):
    """The stored tensors do not fit the architecture the manifest describes."""


@dataclass(frozen=True)
class ManifestEntry:
    """One model as listed in MANIFEST.json; ``file`` is relative to the weights directory."""

    name: str
    file: str
    sha256: str
    architecture: str
    args: UNetArgs
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # The same network as an ONNX graph beside the weights ({"file", "sha256"}), for ONNX Runtime on the
    # CPU (models.onnx_runtime); None: torch only. Saving new weights drops it (the graph would be stale).
    onnx: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as written to MANIFEST.json."""
        out = {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "architecture": self.architecture,
            "args": self.args.to_dict(),
            "training": self.training,
            "data": self.data,
            "metrics": self.metrics,
        }
        return out if self.onnx is None else {**out, "onnx": dict(self.onnx)}

    @classmethod
    def from_json(cls, raw: object, manifest: Path) -> ManifestEntry:
        """Parse one manifest entry; raises ``MalformedManifestError`` naming the bad field."""
        if not isinstance(raw, Mapping):
            raise MalformedManifestError(f"{manifest}: each entry of 'models' must be an object, got {raw!r}")
        label = f"{manifest}: entry {raw.get('name', '?')!r}"
        strings = {key: raw.get(key) for key in ("name", "file", "sha256", "architecture")}
        for key, value in strings.items():
            if not isinstance(value, str) or not value:
                raise MalformedManifestError(f"{label}: '{key}' must be a non-empty string, got {value!r}")
        # training/data/metrics are optional (absent or null -> {}); args is not, or defaults would
        # silently stand in for the architecture the tensors were trained with.
        extras = {key: {} if raw.get(key) is None else raw[key] for key in ("training", "data", "metrics")}
        for key, value in {**extras, "args": raw.get("args")}.items():
            if not isinstance(value, Mapping):
                raise MalformedManifestError(f"{label}: '{key}' must be an object, got {value!r}")
        try:
            args = UNetArgs(**raw["args"])
        except (TypeError, ValueError) as exc:
            raise MalformedManifestError(
                f"{label}: 'args' {raw.get('args')!r} are not valid UNetArgs ({exc}); fix the entry "
                "or re-export the weights with save_weights"
            ) from exc
        onnx = raw.get("onnx")
        if onnx is not None and not (
            isinstance(onnx, Mapping) and all(isinstance(onnx.get(k), str) and onnx[k] for k in ("file", "sha256"))
        ):
            raise MalformedManifestError(f"{label}: 'onnx' must be an object with 'file' and 'sha256', got {onnx!r}")
        extras_out = {key: dict(value) for key, value in extras.items()}
        graph = None if onnx is None else {"file": onnx["file"], "sha256": onnx["sha256"]}
        return cls(args=args, **strings, **extras_out, onnx=graph)


def read_manifest(directory: str | os.PathLike[str]) -> list[ManifestEntry]:
    """All entries of ``<directory>/MANIFEST.json``, in file order; ``[]`` if it is missing or empty.

    Raises:
        MalformedManifestError: unreadable JSON, wrong ``format``, bad entries or duplicate names.
    """
    path = Path(directory) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedManifestError(
            f"{path} is not valid JSON ({exc}); restore it from version control or delete it"
        ) from exc
    if not isinstance(raw, Mapping) or raw.get("format") != MANIFEST_FORMAT:
        seen = raw.get("format") if isinstance(raw, Mapping) else type(raw).__name__
        raise MalformedManifestError(f"{path}: expected format {MANIFEST_FORMAT!r}, got {seen!r}")
    models = raw.get("models", [])
    if not isinstance(models, list):
        raise MalformedManifestError(f"{path}: 'models' must be a list, got {type(models).__name__}")
    entries = [ManifestEntry.from_json(item, path) for item in models]
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise MalformedManifestError(f"{path}: duplicate model names in {names}; keep one entry per name")
    return entries


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via a temporary file + rename, so readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(
    model: UNet,
    args: UNetArgs,
    directory: str | os.PathLike[str],
    name: str,
    *,
    architecture: str,
    training: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    half: bool = False,
) -> ManifestEntry:
    """Write ``<directory>/<name>.safetensors`` and add or replace ``name`` in MANIFEST.json.

    ``training``, ``data`` and ``metrics`` must be JSON-serialisable (no NaN: use ``None``). With
    ``half``, floating-point tensors are stored as float16 (half the file; ``load_model`` widens them back
    into the float32 model, so the loaded model computes with the rounded values). Returns the new
    manifest entry.

    Raises:
        ValueError: ``name`` is not a plain file-name stem, ``args`` differ from ``model.args``, a
            metric is NaN/infinite, or (``half``) a tensor value does not fit in float16.
        TypeError: ``training``/``data``/``metrics`` hold a value JSON cannot represent.
        UnknownArchitectureError: ``architecture`` is not in ``MODEL_REGISTRY``.
        MalformedManifestError: the existing manifest cannot be read (it is left untouched).
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"model name {name!r} must match {_NAME_RE.pattern} (it becomes a file name)")
    if architecture not in MODEL_REGISTRY:
        raise UnknownArchitectureError(
            f"architecture {architecture!r} is not registered; known: {', '.join(sorted(MODEL_REGISTRY))}"
        )
    if args != model.args:
        raise ValueError(f"args {args} differ from the model's own {model.args}; pass model.args")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = read_manifest(directory)  # fail before writing anything if the manifest is broken

    # contiguous() because safetensors refuses strided views (e.g. a channels-last model's weights).
    tensors = {key: t.detach().cpu().contiguous() for key, t in model.state_dict().items()}
    if half:
        tensors = {key: _to_half(key, t) for key, t in tensors.items()}
    # The file carries its own description too, in case it travels without the manifest.
    meta = {"name": name, "architecture": architecture, "args": json.dumps(args.to_dict())}
    payload = save_safetensors_bytes(tensors, metadata=meta)
    file_name = f"{name}.safetensors"
    entry = ManifestEntry(
        name=name,
        file=file_name,
        sha256=hashlib.sha256(payload).hexdigest(),
        architecture=architecture,
        args=args,
        training=dict(training or {}),
        data=dict(data or {}),
        metrics=dict(metrics or {}),
    )
    # Serialise first so a non-JSON training/metrics value fails before the tensors file changes.
    manifest_bytes = _manifest_bytes(_upsert(entries, entry))
    _write_atomic(directory / file_name, payload)
    _write_atomic(directory / MANIFEST_NAME, manifest_bytes)
    return entry


def _to_half(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """A floating tensor as float16 (others unchanged); refuses values float16 cannot hold. The presence
    head stays float32: a few hundred numbers, whose bias holds a folded sum that float16 would round."""
    if not tensor.is_floating_point() or key.startswith("presence."):
        return tensor
    narrow = tensor.to(torch.float16)
    if not bool(torch.isfinite(narrow).all()) and bool(torch.isfinite(tensor).all()):
        raise ValueError(f"tensor {key!r} holds values beyond float16's range (+-65504); save it without half")
    return narrow


def _manifest_bytes(entries: list[ManifestEntry]) -> bytes:
    """MANIFEST.json's bytes for ``entries``; allow_nan=False because NaN/Infinity are not JSON and break
    strict readers (use null instead)."""
    manifest = {"format": MANIFEST_FORMAT, "models": [e.to_json() for e in entries]}
    return (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _upsert(entries: list[ManifestEntry], entry: ManifestEntry) -> list[ManifestEntry]:
    """Replace the entry with ``entry.name`` in place, or append it; order = default-model preference."""
    if any(e.name == entry.name for e in entries):
        return [entry if e.name == entry.name else e for e in entries]
    return [*entries, entry]


def _select(entries: list[ManifestEntry], name: str | None, directory: Path) -> ManifestEntry:
    """The entry called ``name``, or the first entry when ``name`` is None."""
    if not entries:
        raise ModelNotFoundError(f"{directory / MANIFEST_NAME} lists no model; train one and save it with save_weights")
    if name is None:
        return entries[0]
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries)
    raise ModelNotFoundError(f"model {name!r} is not in {directory / MANIFEST_NAME}; listed: {known}")


def _resolve_file(directory: Path, entry: ManifestEntry) -> Path:
    """The entry's weights path, refusing anything that is not a plain file directly inside ``directory``."""
    candidate = Path(entry.file)
    root = directory.resolve()
    resolved = (root / candidate).resolve()
    if candidate.is_absolute() or len(candidate.parts) != 1 or resolved.parent != root:
        raise MalformedManifestError(
            f"model {entry.name!r}: file {entry.file!r} is not a plain file name inside {root}; "
            "manifest paths may not escape the weights directory - fix or delete the entry in MANIFEST.json"
        )
    return resolved


def read_onnx_graph(directory: str | os.PathLike[str], entry: ManifestEntry) -> bytes | None:
    """The entry's ONNX graph, checked against its sha256 like the weights; None when it lists none.

    Raises:
        MalformedManifestError, WeightsFileMissingError, HashMismatchError: as for the weights file.
    """
    if entry.onnx is None:
        return None
    graph = ManifestEntry(
        name=f"{entry.name} (ONNX graph)", file=entry.onnx["file"], sha256=entry.onnx["sha256"],
        architecture=entry.architecture, args=entry.args,
    )  # fmt: skip
    return _read_verified(Path(directory), graph)


def attach_onnx_graph(directory: str | os.PathLike[str], name: str, graph: bytes) -> ManifestEntry:
    """Write ``<directory>/<name>.onnx`` and list it under model ``name`` in MANIFEST.json (atomically).

    Raises:
        ModelNotFoundError: the manifest does not list ``name``.
    """
    directory = Path(directory)
    entries = read_manifest(directory)
    entry = _select(entries, name, directory)
    file_name = f"{entry.name}.onnx"
    entry = replace(entry, onnx={"file": file_name, "sha256": hashlib.sha256(graph).hexdigest()})
    manifest_bytes = _manifest_bytes(_upsert(entries, entry))
    _write_atomic(directory / file_name, graph)
    _write_atomic(directory / MANIFEST_NAME, manifest_bytes)
    return entry


def _read_verified(directory: Path, entry: ManifestEntry) -> bytes:
    """The weights file's bytes, after checking they hash to the manifest's sha256."""
    path = _resolve_file(directory, entry)
    try:
        payload = path.read_bytes()
    except FileNotFoundError as exc:
        raise WeightsFileMissingError(
            f"model {entry.name!r}: {path} does not exist; re-download or re-train it, "
            "or delete the entry from MANIFEST.json"
        ) from exc
    digest = hashlib.sha256(payload).hexdigest()
    if digest != entry.sha256.lower():
        raise HashMismatchError(
            f"model {entry.name!r}: sha256 of {path} is {digest}, manifest expects {entry.sha256}; "
            "the file is corrupt or was replaced - re-download or re-train it, "
            "or delete the entry from MANIFEST.json"
        )
    return payload


def _check_shapes(model: UNet, tensors: Mapping[str, torch.Tensor], entry: ManifestEntry) -> None:
    """Raise ``ShapeMismatchError`` listing missing, unexpected and wrongly shaped tensors."""
    expected = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    found = {key: tuple(t.shape) for key, t in tensors.items()}
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    wrong = [f"{k}: file {found[k]}, model {s}" for k, s in expected.items() if found.get(k, s) != s]
    if missing or unexpected or wrong:
        problems = [
            f"missing {missing[:5]}" if missing else "",
            f"unexpected {unexpected[:5]}" if unexpected else "",
            f"shape {wrong[:5]}" if wrong else "",
        ]
        raise ShapeMismatchError(
            f"model {entry.name!r}: tensors do not fit {entry.architecture} {entry.args}: "
            f"{'; '.join(p for p in problems if p)}; the manifest's args probably do not belong to this "
            "file - re-export with save_weights"
        )


def load_model(
    directory: str | os.PathLike[str],
    name: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[UNet, ManifestEntry]:
    """Load a verified model in eval mode on ``device``.

    Args:
        directory: the weights directory holding MANIFEST.json.
        name: the manifest entry to load; ``None`` loads the first entry listed.
        device: torch device for the model.

    Raises:
        ModelNotFoundError: the manifest is missing/empty or does not list ``name``.
        MalformedManifestError, WeightsFileMissingError, HashMismatchError,
        UnknownArchitectureError, ShapeMismatchError: see their docstrings.
    """
    directory = Path(directory)
    entry = _select(read_manifest(directory), name, directory)
    payload = _read_verified(directory, entry)  # hash checked before any tensor is deserialised
    if entry.architecture not in MODEL_REGISTRY:
        raise UnknownArchitectureError(
            f"model {entry.name!r}: architecture {entry.architecture!r} is not registered "
            f"(known: {', '.join(sorted(MODEL_REGISTRY))}); update neovasc or fix MANIFEST.json"
        )
    try:
        tensors = load_safetensors_bytes(payload)
    except SafetensorError as exc:
        # Only reachable when the manifest's hash was computed over a file that was never safetensors.
        raise WeightsError(
            f"model {entry.name!r}: {entry.file} matches its sha256 but is not a safetensors file ({exc}); "
            "re-export it with save_weights"
        ) from exc
    model = build_model(entry.architecture, entry.args)
    _check_shapes(model, tensors, entry)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval(), entry

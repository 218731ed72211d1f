"""``TendonSegmenter``: numpy frames in, boolean tendon masks at the frames' own resolution out."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from models.batching import DEFAULT_GATHER_S, DEFAULT_MAX_ROWS, BatchedForward
from models.onnx_runtime import OnnxNetwork, onnxruntime_available
from models.regions import Area, keep_largest_component, validate_area
from models.transforms import (
    InvalidInputError,
    LetterboxGeometry,
    derive_channels,
    letterbox,
    normalize,
    unletterbox,
    unletterbox_array,
    validate_frames,
)
from models.unet import UNet, UNetArgs
from models.weights import load_model, read_manifest, read_onnx_graph

__all__ = ["Area", "Assessment", "TendonSegmenter", "keep_largest_component", "load_segmenter", "validate_area"]

RUNTIMES = ("auto", "torch")  # see TendonSegmenter.from_weights

# Probability above which a pixel is tendon: the decision boundary of the logistic output (logit 0) the
# network is trained to, with no recalibration yet.
THRESHOLD = 0.5
DEFAULT_BATCH_SIZE = 8
# Presence probability at or below which a frame holds no tendon: the presence head's logit 0, where its
# fitting put the boundary chosen on held-out validation (``models.training.presence``).
PRESENCE_THRESHOLD = 0.5


class Assessment(NamedTuple):
    """What the network says of frames: ``probabilities (N, H, W) float32`` of tendon per pixel, and
    ``presence (N,) float32``, the probability that each frame holds a tendon at all (None for a model
    without a presence head)."""

    probabilities: np.ndarray
    presence: np.ndarray | None

    @property
    def present(self) -> np.ndarray | None:
        """``(N,) bool``: the frames that hold a tendon by the presence head (None without one)."""
        return None if self.presence is None else self.presence > PRESENCE_THRESHOLD


def _unique_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first occurrence of each distinct frame, and for every frame its unique index.

    Frames are compared by a 128-bit BLAKE2b digest of their bytes (all frames of a call share a shape);
    a chance collision is ~2**-64 even for 2**32 frames, so no byte comparison follows. ``predict``
    compares the letterboxed model inputs, not the full frames: the same answer (identical inputs give
    identical masks) for ~50x fewer bytes hashed at full HD.
    """
    slot: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(frames), dtype=np.intp)
    for i, frame in enumerate(frames):
        key = hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).digest()
        if key not in slot:
            slot[key] = len(first)
            first.append(i)
        inverse[i] = slot[key]
    return np.asarray(first, dtype=np.intp), inverse


def _padded(finish, region: Area, size: tuple[int, int]):
    """``finish`` for probabilities of the ``region`` crop: they are put back into a frame of ``size``
    ``(H, W)``, 0 outside the crop, before ``finish`` sees them."""
    x0, y0, x1, y1 = region

    def pad(probs: np.ndarray) -> np.ndarray:
        full = np.zeros((probs.shape[0], *size), dtype=probs.dtype)
        full[:, y0:y1, x0:x1] = probs
        return finish(full)

    return pad


class TendonSegmenter:
    """Segments the tendon on ultrasound frames with a loaded ``UNet``.

    Use ``from_weights`` or ``load_segmenter``; ``name``, ``sha256`` and ``device`` identify the model
    and where it ran, for the record of every result.
    """

    def __init__(self, model: UNet, *, name: str, sha256: str, network: OnnxNetwork | None = None) -> None:
        """Wrap ``model`` (already on its device); it is put in eval mode and channels-last layout.

        ``network``: the same network as an ONNX Runtime session, which then computes the logits on the
        CPU in place of ``model`` (see ``models.onnx_runtime``).
        """
        if model.args.out_channels != 1:
            raise ValueError(f"TendonSegmenter needs a model with out_channels=1, got {model.args.out_channels}")
        # Channels-last runs the convolutions about 2x faster on CPU (oneDNN) and suits tensor cores.
        self._model = model.eval().to(memory_format=torch.channels_last)
        self._name = name
        self._sha256 = sha256
        self._device = next(model.parameters()).device
        self._network = network if self._device.type == "cpu" else None
        self._batcher: BatchedForward | None = None

    def batched(self, *, max_rows: int = DEFAULT_MAX_ROWS, gather_s: float = DEFAULT_GATHER_S) -> TendonSegmenter:
        """A twin of this segmenter (the same network and weights) whose network calls from many threads are
        run by one thread, the frames waiting together in one call (``models.batching.BatchedForward``).

        Each caller still gets the masks and probabilities of its own frames. Meant for a service grading
        several uploads at once on a GPU; ``close()`` stops the thread.
        """
        twin = copy.copy(self)
        twin._batcher = BatchedForward(
            self._network_probabilities, max_rows=max_rows, gather_s=gather_s, name=f"{self._name}-batching"
        )
        return twin

    @property
    def batcher(self) -> BatchedForward | None:
        """The thread that runs this twin's network calls (``batched``), or None."""
        return self._batcher

    def close(self) -> None:
        """Stop the batching thread of a ``batched`` twin, after the calls waiting for it; nothing otherwise."""
        if self._batcher is not None:
            self._batcher.close()

    @classmethod
    def from_weights(
        cls,
        directory: str | os.PathLike[str],
        name: str | None = None,
        device: torch.device | str = "cpu",
        runtime: str = "auto",
    ) -> TendonSegmenter:
        """Load model ``name`` (first listed if ``None``) from a weights directory; see ``load_model``.

        ``runtime``: ``"auto"`` runs the network with ONNX Runtime on the CPU when the manifest lists a
        verified ONNX graph and ``onnxruntime`` is installed, else with torch; ``"torch"`` always torch.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        model, entry = load_model(directory, name, device)
        network = None
        if runtime == "auto" and torch.device(device).type == "cpu" and onnxruntime_available():
            graph = read_onnx_graph(directory, entry)
            network = None if graph is None else OnnxNetwork(graph, torch.get_num_threads())
        return cls(model, name=entry.name, sha256=entry.sha256, network=network)

    @property
    def runtime(self) -> str:
        """What computes the network: ``"onnxruntime"`` or ``"torch"``."""
        return "torch" if self._network is None else "onnxruntime"

    @property
    def name(self) -> str:
        """The manifest name of the model."""
        return self._name

    @property
    def sha256(self) -> str:
        """sha256 of the weights file the model was loaded from."""
        return self._sha256

    @property
    def device(self) -> torch.device:
        """The device the model runs on."""
        return self._device

    @property
    def args(self) -> UNetArgs:
        """The model's architecture (input size, channels)."""
        return self._model.args

    @property
    def has_presence(self) -> bool:
        """Whether the model says if a frame holds a tendon at all (``UNetArgs.presence``)."""
        return self._model.args.presence

    def __repr__(self) -> str:
        return f"TendonSegmenter(name={self._name!r}, sha256={self._sha256[:12]}..., device={self._device})"

    @torch.inference_mode()
    def predict_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Tendon probabilities for an already transformed batch (see ``models.transforms.preprocess``).

        Args:
            x: ``(B, in_channels, H, W)`` float, normalised, with ``(H, W) == args.input_size``;
                moved to ``device`` if needed.

        Returns:
            ``(B, 1, H, W) float32`` probabilities in [0, 1] on ``device``.
        """
        return self._network_outputs(x)[0]

    def _network_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``predict_torch``'s check of ``x``, then its probabilities and the ``(B,)`` presence (or None)."""
        expected = (self.args.in_channels, *self.args.input_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            seen = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InvalidInputError(f"x must be a (B, {', '.join(map(str, expected))}) tensor, got {seen}")
        if not x.is_floating_point():
            raise InvalidInputError(f"x must be a float tensor from preprocess(), got dtype {x.dtype}")
        return (self._batcher or self._network_probabilities)(x)

    @torch.inference_mode()  # also in the batching thread: inference mode is per thread
    def _network_probabilities(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, C, H, W)`` checked input -> ``(B, 1, H, W) float32`` probabilities and ``(B,)`` presence
        probabilities (None without a presence head), by this segmenter's network."""
        if self._network is not None:  # ONNX Runtime on the CPU: the input as it is, no layout change
            # the logistic in numpy: torch's thread pool costs milliseconds for a small map on busy cores
            logits, presence = self._network(x)
            return _logistic(logits), None if presence is None else _logistic(presence)
        x = x.to(self._device, memory_format=torch.channels_last)
        # float16 autocast only on CUDA: CPU float16 convolutions are slow, and bfloat16 would change
        # results on CPUs that have it versus those that do not.
        autocast = (
            torch.autocast(device_type="cuda", dtype=torch.float16)
            if self._device.type == "cuda"
            else contextlib.nullcontext()
        )
        with autocast:
            logits, presence = self._model.forward_with_presence(x)
        return torch.sigmoid(logits.float()), None if presence is None else torch.sigmoid(presence.float())

    @torch.inference_mode()
    def predict(
        self,
        frames: np.ndarray,
        *,
        area: Sequence[int] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> np.ndarray:
        """Tendon masks for RGB frames at their own resolution.

        Args:
            frames: ``(N, H, W, 3) uint8 RGB`` frames, or one ``(H, W, 3)`` frame.
            area: optional ``(x0, y0, x1, y1)`` rectangle of the ultrasound picture (x1, y1 exclusive); the
                tendon is looked for only inside it (see ``keep_largest_component``), and a model trained on
                pictures (``args.input_view == "picture"``) sees only that rectangle.
            batch_size: frames per forward pass.

        Returns:
            ``(N, H, W) bool`` masks (``(H, W)`` for a single frame); each holds the connected region with
            probability > 0.5 of the largest summed probability, or nothing when no tendon was found (also
            where a model with a presence head judged the frame to hold none). Identical frames are segmented
            once and share the result.

        Raises:
            InvalidInputError: wrong type, dtype or shape of ``frames``, a bad ``area`` or ``batch_size``.
        """
        # Only an (H, W, 3) array counts as one frame; other 3-D shapes get validate_frames' message.
        single = isinstance(frames, np.ndarray) and frames.ndim == 3 and frames.shape[2] == 3
        batch = validate_frames(frames[None] if single else frames)  # (N, H, W, 3)
        region = validate_area(area, batch.shape[1:3])

        def segment(probs: np.ndarray) -> np.ndarray:
            return np.stack([keep_largest_component(p > THRESHOLD, region, p) for p in probs])  # (B, H, W)

        out, presence = self._per_unique_frame(batch, batch_size, segment, bool, region)
        if presence is not None:
            out[presence <= PRESENCE_THRESHOLD] = False
        return out[0] if single else out

    @torch.inference_mode()
    def probabilities(
        self,
        frames: np.ndarray,
        *,
        area: Sequence[int] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> np.ndarray:
        """Tendon probabilities of ``(N, H, W, 3) uint8 RGB`` frames at their own resolution, before any
        threshold or post-processing: ``(N, H, W) float32`` in [0, 1]. For callers that choose the region
        themselves (a hint from the user) or report how sure the model was. ``area`` is the picture's
        rectangle, as in ``predict``: a picture model sees only it, and gives 0 outside it."""
        return self.assess(frames, area=area, batch_size=batch_size).probabilities

    @torch.inference_mode()
    def assess(
        self,
        frames: np.ndarray,
        *,
        area: Sequence[int] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Assessment:
        """``probabilities`` of ``(N, H, W, 3) uint8 RGB`` frames, with each frame's presence probability
        (a frame with presence <= ``PRESENCE_THRESHOLD`` holds no tendon, whatever its map shows); from one
        network call per distinct frame."""
        batch = validate_frames(frames)
        region = validate_area(area, batch.shape[1:3])
        return Assessment(*self._per_unique_frame(batch, batch_size, lambda probs: probs, np.float32, region))

    def _per_unique_frame(
        self, batch: np.ndarray, batch_size: int, finish, dtype, region: Area | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the network once per distinct frame of ``batch (N, H, W, 3)`` and ``finish`` its
        ``(B, H, W) float32`` probabilities (numpy) into ``(B, H, W)`` arrays of ``dtype``; with them the
        ``(N,) float32`` presence probabilities (None without a presence head).

        A picture model (``args.input_view == "picture"``) given a ``region`` sees only that rectangle of
        each frame; ``finish`` then gets full-size probabilities that are 0 outside it."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        n, h, w = batch.shape[:3]
        presence = np.empty(0, np.float32) if self.has_presence else None
        if n == 0:
            return np.zeros((0, h, w), dtype=dtype), presence
        if region is not None and self.args.input_view == "picture":
            x0, y0, x1, y1 = region
            batch, finish = batch[:, y0:y1, x0:x1], _padded(finish, region, (h, w))
        boxed, geom = letterbox(batch, self.args.input_size)  # (N, th, tw, 3): the model's view of each frame
        # One frame needs no de-duplication.
        first, inverse = _unique_frames(boxed) if n > 1 else (np.zeros(1, np.intp), np.zeros(1, np.intp))
        unique = boxed if len(first) == n else boxed[first]  # (U, th, tw, 3)
        out = np.empty((len(unique), h, w), dtype=dtype)
        if presence is not None:
            presence = np.empty(len(unique), np.float32)
        for start in range(0, len(unique), batch_size):
            maps, present = self._probabilities(unique[start : start + batch_size], geom)
            out[start : start + batch_size] = finish(maps)
            if presence is not None:
                presence[start : start + batch_size] = present
        if len(first) == n:
            return out, presence  # (N, H, W), (N,)
        return out[inverse], None if presence is None else presence[inverse]

    def _probabilities(self, boxed: np.ndarray, geom: LetterboxGeometry) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, th, tw, 3) uint8 RGB`` letterboxed frames -> ``(B, H, W) float32`` probabilities (numpy) and
        ``(B,)`` presence probabilities (None without a presence head).

        On the CPU the model-size maps go back to the frame's size with OpenCV (the same bilinear
        resampling as ``unletterbox``, without torch's thread pool); on a GPU they are resized there."""
        channels = derive_channels(boxed, self.args.in_channels)
        x = normalize(channels, self._device, channels_last=self._network is None)  # ONNX Runtime reads NCHW
        probs, presence = self._network_outputs(x)
        probs = probs[:, 0]  # (B, th, tw)
        present = None if presence is None else presence.float().cpu().numpy()
        if probs.device.type == "cpu":
            return unletterbox_array(probs.numpy(), geom), present
        return unletterbox(probs, geom).cpu().numpy(), present


def _logistic(logits: torch.Tensor) -> torch.Tensor:
    """The logistic of CPU logits, computed in numpy (float32)."""
    return torch.from_numpy(1.0 / (1.0 + np.exp(-logits.numpy(), dtype=np.float32)))


def load_segmenter(
    directory: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    runtime: str = "auto",
) -> TendonSegmenter | None:
    """The segmenter for the first model in ``<directory>/MANIFEST.json``, or ``None`` if none is listed.

    ``None`` (missing manifest, or an empty ``models`` list) means "no segmentation model shipped yet";
    callers decide what to do without one.

    Raises:
        WeightsError: a model is listed but its manifest entry or file is broken.
    """
    if not read_manifest(directory):
        return None
    return TendonSegmenter.from_weights(directory, device=device, runtime=runtime)

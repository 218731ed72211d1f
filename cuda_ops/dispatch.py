"""Backend registry and the public ``count_doppler`` entry point.

Backend choice follows one rule: an automatically chosen backend that fails falls back to the next
one and says so in ``FrameCounts.fallback``; an explicitly requested backend that fails raises
:class:`BackendUnavailable`, naming the known backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import cpu_kernel, triton_kernel
from .lut import DopplerLUT
from .reference import count_reference
from .types import MAX_LABELS, FrameCounts

CountFn = Callable[[torch.Tensor, torch.Tensor, DopplerLUT, Sequence[int]], FrameCounts]


class CountInputError(ValueError):
    """Frames, labels or options that no backend can count."""


class BackendUnavailable(RuntimeError):
    """An explicitly requested backend or device cannot run here."""


@dataclass(frozen=True)
class Backend:
    name: str
    device_types: tuple[str, ...]
    unavailable_reason: Callable[[], str | None]  # None when the backend can run
    run: CountFn
    extra_device_types: Callable[[], tuple[str, ...]] = tuple  # device types accepted in special modes

    def runs_on(self, device_type: str) -> bool:
        return device_type in self.device_types or device_type in self.extra_device_types()


def _always_available() -> str | None:
    return None


BACKENDS: dict[str, Backend] = {
    "reference": Backend("reference", ("cpu", "cuda"), _always_available, count_reference),
    "cpu": Backend("cpu", ("cpu",), cpu_kernel.unavailable_reason, cpu_kernel.count_cpu),
    # Also on CPU tensors under TRITON_INTERPRET=1 (tests); the kernel itself is written for CUDA.
    "triton": Backend(
        "triton",
        ("cuda",),
        triton_kernel.unavailable_reason,
        triton_kernel.count_triton,
        triton_kernel.extra_device_types,
    ),
}
BACKEND_NAMES = ("auto", *sorted(BACKENDS))  # what a caller may ask for


def known_backend(name: str) -> str:
    """``name`` when it is one of :data:`BACKEND_NAMES`; ValueError naming them otherwise."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown counting backend {name[:40]!r}; known backends: {', '.join(BACKEND_NAMES)}")
    return name


# Preference per device type when backend="auto"; names missing from BACKENDS are skipped.
AUTO_ORDER: dict[str, tuple[str, ...]] = {"cuda": ("triton", "reference"), "cpu": ("cpu", "reference")}


def available_backends(device: str = "cpu") -> list[str]:
    """Names of the backends that can run on ``device`` now, in automatic preference order."""
    device_type = torch.device(device).type
    names = [n for n in AUTO_ORDER.get(device_type, ()) if n in BACKENDS]
    names += [n for n in BACKENDS if n not in names and BACKENDS[n].runs_on(device_type)]
    return [n for n in names if BACKENDS[n].unavailable_reason() is None]


def _as_tensor(array: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array))
    raise CountInputError(f"{what} must be a numpy array or torch tensor, got {type(array).__name__}")


def check_inputs(frames: torch.Tensor, labels: torch.Tensor, mask_frames: Sequence[int]) -> None:
    """Raise :class:`CountInputError` unless frames, labels and mask frames can be counted."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise CountInputError(
            f"frames must be (N, H, W, 3) uint8 RGB, got shape {tuple(frames.shape)} dtype {frames.dtype}"
        )
    n, h, w, _ = frames.shape
    if labels.dtype != torch.uint8 or labels.ndim != 3 or tuple(labels.shape[1:]) != (h, w):
        raise CountInputError(
            f"labels must be (N, H, W) or (1, H, W) uint8 matching frames {(n, h, w)}, "
            f"got shape {tuple(labels.shape)} dtype {labels.dtype}"
        )
    if labels.shape[0] not in (1, n):
        raise CountInputError(f"labels must have 1 or {n} frames, got {labels.shape[0]}")
    if labels.numel():
        # numpy for a CPU tensor: torch's reduction wakes its thread pool, milliseconds beside a busy model
        top = int(labels.numpy().max()) if labels.device.type == "cpu" else int(labels.max())
        if top >= MAX_LABELS:
            raise CountInputError(f"label values must be below {MAX_LABELS}, got {top}")
    bad = [i for i in mask_frames if not 0 <= i < n]
    if bad:
        raise CountInputError(f"mask_frames {bad} out of range for {n} frames")


def target_device(frames: torch.Tensor, device: str | torch.device | None) -> torch.device:
    """Where to count: ``device``, or where ``frames`` are; CUDA without a GPU raises :class:`BackendUnavailable`."""
    target = frames.device if device is None else torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("device 'cuda' requested but no CUDA device is available to torch")
    return target


def count_doppler(
    frames: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    lut: DopplerLUT,
    *,
    backend: str = "auto",
    device: str | torch.device | None = None,
    mask_frames: Sequence[int] = (),
) -> FrameCounts:
    """Count Doppler pixels per frame and label in one pass over the pixels.

    Args:
        frames: ``(N, H, W, 3) uint8`` RGB, numpy or torch (any device).
        labels: ``(N, H, W)`` or ``(1, H, W)`` uint8 label map (0 ignored, 1..7 counted), shared by all
            frames when it has one frame.
        lut: the colour rule (:func:`cuda_ops.chroma_lut` or :func:`cuda_ops.table_lut`).
        backend: ``"auto"`` or a name from :data:`BACKENDS`.
        device: where to count; default: where ``frames`` already are (numpy: CPU).
        mask_frames: frames whose ``(H, W) bool`` Doppler mask (labelled pixels only) is returned.

    Returns:
        :class:`FrameCounts` with ``(N, 8)`` arrays indexed by label value. Every backend gives the
        same counts bit for bit; value sums agree within ``SUM_RTOL`` of the sum of |value|.
    """
    frames_t = _as_tensor(frames, "frames")
    labels_t = _as_tensor(labels, "labels")
    check_inputs(frames_t, labels_t, mask_frames)
    target = target_device(frames_t, device)
    frames_t, labels_t = frames_t.to(target), labels_t.to(target)
    if backend != "auto":
        return _run_explicit(backend, target, frames_t, labels_t, lut, mask_frames)
    return _run_auto(target, frames_t, labels_t, lut, mask_frames)


def _run_explicit(name, target, frames_t, labels_t, lut, mask_frames) -> FrameCounts:
    known = ", ".join(BACKEND_NAMES)
    chosen = BACKENDS.get(name)
    if chosen is None:
        raise BackendUnavailable(f"unknown counting backend {name!r}; known backends: {known}")
    if not chosen.runs_on(target.type):
        raise BackendUnavailable(f"backend {name!r} does not run on {target.type}; known backends: {known}")
    reason = chosen.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"backend {name!r} is unavailable: {reason}; known backends: {known}")
    return chosen.run(frames_t, labels_t, lut, mask_frames)


def _run_auto(target, frames_t, labels_t, lut, mask_frames) -> FrameCounts:
    reasons: list[str] = []
    for name in AUTO_ORDER.get(target.type, ("reference",)):
        chosen = BACKENDS.get(name)
        if chosen is None:
            continue
        reason = chosen.unavailable_reason()
        if reason is None:
            try:
                counts = chosen.run(frames_t, labels_t, lut, mask_frames)
            except Exception as exc:  # an automatic choice must degrade, not fail the request
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if reasons:
                    return _with_fallback(counts, "; ".join(reasons))
                return counts
        reasons.append(f"{name} skipped ({reason})")
    raise BackendUnavailable(f"no counting backend could run on {target}: {'; '.join(reasons)}")


def _with_fallback(counts: FrameCounts, why: str) -> FrameCounts:
    return FrameCounts(
        pixels=counts.pixels,
        doppler=counts.doppler,
        value_sum=counts.value_sum,
        value_sq_sum=counts.value_sq_sum,
        backend=counts.backend,
        device=counts.device,
        masks=counts.masks,
        fallback=why,
    )

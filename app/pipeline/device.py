"""Device choice: ``auto`` takes CUDA when torch sees a GPU, else the CPU; ``cuda`` without one is an error."""

from __future__ import annotations

import torch

from app.errors import DeviceUnavailable, UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """``"auto" | "cpu" | "cuda"`` -> the torch device type to run on."""
    if requested not in DEVICES:
        raise UsageError(f"device {requested!r} is not one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if cuda else "cpu"
    if requested == "cuda" and not cuda:
        raise DeviceUnavailable(
            "device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu or auto, "
            "or install a CUDA build of torch (docs/install.md, 'GPU')"
        )
    return requested

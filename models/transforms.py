"""Frame -> model input transforms, and the inverse mapping of model outputs back to the frame.

Why the model does not see the RGB frame: a Doppler frame is a grey B-mode image with a colour map painted
over the vessels, and the vessels sit inside the very tendon we must outline. Colour paint therefore hides
tendon texture exactly where it matters, and a network fed RGB could learn "colour means tendon" (or the
reverse) from the training set's vascularity. Ultrasound scanners render B-mode as grey (R = G = B) and
the Doppler maps as saturated colours (red/orange/yellow and blue/cyan, each with at least one channel
near 0), so the per-pixel minimum of R, G, B keeps grey tissue unchanged and pushes painted pixels
towards black - the same hypoechoic look that an unpainted vessel has on B-mode. That is channel 0,
the "B-mode estimate".

Channel 1 (when ``in_channels == 2``) is colour presence, ``max(R, G, B) - min(R, G, B)``: 0 on grey
tissue, high under the paint. It tells the network which dark pixels are "painted, texture unknown"
rather than "truly dark tissue", without giving it the hue (flow direction), which says nothing about
where the tendon is.

With ``UNetArgs.input_transform == "fill"`` (``fill_colour``, run inside ``UNet.forward``) the network does
not see colour presence at all: the pixels the colour covers are detected from channel 1 and filled, in
channel 0, from the grey B-mode around them (a push-pull pyramid: averages over growing neighbourhoods
of the uncovered pixels). The network gets this one filled B-mode channel. Colour then reads as "texture
unknown here" and cannot be a cue for where the tendon is: a frame and the same frame with its colour
replaced by that fill give the same input. ``"minmax"`` (the default, and every model saved before the
option existed) feeds both channels unchanged.

Frames are letterboxed (resized keeping the aspect ratio, then padded) to the fixed model input size;
``LetterboxGeometry`` records what was done so ``unletterbox`` can map outputs back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "COLOUR_THRESHOLD",
    "INPUT_MEAN",
    "INPUT_STD",
    "INPUT_TRANSFORMS",
    "InvalidInputError",
    "LetterboxGeometry",
    "derive_channels",
    "fill_colour",
    "letterbox",
    "letterbox_geometry",
    "normalize",
    "preprocess",
    "unletterbox",
    "unletterbox_array",
    "validate_frames",
]

# Normalisation of the uint8 channels after scaling to [0, 1]: (x - mean) / std, per channel
# (B-mode estimate, colour presence). No training-set statistics exist yet, so these are fixed round
# values that map [0, 1] to about [-1, 1] for B-mode (mean grey of tendon scans sits near the middle of
# the range) and keep the mostly-zero colour channel near 0. Weights are trained against these exact
# numbers: changing them invalidates every shipped model, so record the change in the training config.
INPUT_MEAN: tuple[float, float] = (0.5, 0.0)
INPUT_STD: tuple[float, float] = (0.5, 0.5)

# Model-side input transforms (``UNetArgs.input_transform``) -> channels the network's first layer takes.
INPUT_TRANSFORMS: dict[str, int] = {"minmax": 2, "fill": 1}
# Colour presence (max - min, in [0, 1]) above which a pixel counts as colour-covered. Grey tissue after
# JPEG or 4:2:0 video chroma stays below ~0.06; the darkest ends of the vendor maps sit above 0.3.
COLOUR_THRESHOLD = 0.12

# Letterbox padding is 0 in uint8 space: black, i.e. the same as the region outside an ultrasound sector,
# and "no colour" in the presence channel, so padding looks like something the model sees anyway.
PAD_VALUE = 0


class InvalidInputError(ValueError):
    """Raised when frames, tensors or an area given to the segmentation model have the wrong type/shape."""


@dataclass(frozen=True)
class LetterboxGeometry:
    """How a frame of ``source_size`` was placed inside the model input of ``target_size``.

    All sizes are ``(H, W)`` in pixels. The frame was resized to ``resized_size`` and its top-left corner
    put at ``(top, left)`` of the target; everything else in the target is padding.
    """

    source_size: tuple[int, int]
    target_size: tuple[int, int]
    resized_size: tuple[int, int]
    top: int
    left: int


def validate_frames(frames: object) -> np.ndarray:
    """Check ``frames`` is ``(N, H, W, 3) uint8 RGB``; return it as an ``(N, H, W, 3)`` array.

    Raises:
        InvalidInputError: not a numpy array, not uint8, or not 4-D with 3 channels and H, W >= 1.
    """
    if not isinstance(frames, np.ndarray):
        raise InvalidInputError(f"frames must be a numpy array (N, H, W, 3) uint8 RGB, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise InvalidInputError(
            f"frames must be uint8 RGB, got dtype {frames.dtype}; convert 8-bit video/DICOM pixels "
            "with np.asarray(x, dtype=np.uint8) after windowing, not a float image"
        )
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[1] < 1 or frames.shape[2] < 1:
        raise InvalidInputError(
            f"frames must have shape (N, H, W, 3) with H, W >= 1, got {frames.shape}; "
            "greyscale frames need np.repeat(x[..., None], 3, axis=-1), RGBA frames x[..., :3]"
        )
    return frames


def derive_channels(frames: np.ndarray, in_channels: int) -> np.ndarray:
    """``(N, H, W, 3) uint8 RGB`` -> ``(N, H, W, in_channels) uint8`` model channels.

    Channel 0 is the B-mode estimate ``min(R, G, B)``; channel 1 (if ``in_channels == 2``) is colour
    presence ``max(R, G, B) - min(R, G, B)``. See the module docstring for why.
    """
    if in_channels not in (1, 2):
        raise InvalidInputError(f"in_channels must be 1 or 2 for RGB-derived input, got {in_channels}")
    r, g, b = frames[..., 0], frames[..., 1], frames[..., 2]
    # Element-wise minimum of the three planes: ~25x faster than frames.min(axis=3), whose reduction
    # over a length-3 innermost axis does not vectorise.
    lo = np.minimum(np.minimum(r, g), b)  # (N, H, W)
    if in_channels == 1:
        return lo[..., None]
    hi = np.maximum(np.maximum(r, g), b)  # (N, H, W); hi >= lo, so the uint8 difference cannot wrap
    return np.stack([lo, hi - lo], axis=3)


def letterbox_geometry(source_size: tuple[int, int], target_size: tuple[int, int]) -> LetterboxGeometry:
    """Geometry that fits ``source_size`` (H, W) into ``target_size`` (H, W), keeping the aspect ratio.

    The frame is scaled by the largest factor that fits, rounded to whole pixels (at least 1), and
    centred; when the padding is odd the extra pixel goes to the bottom/right.
    """
    (sh, sw), (th, tw) = source_size, target_size
    scale = min(th / sh, tw / sw)
    rh = min(th, max(1, round(sh * scale)))
    rw = min(tw, max(1, round(sw * scale)))
    return LetterboxGeometry(
        source_size=(sh, sw),
        target_size=(th, tw),
        resized_size=(rh, rw),
        top=(th - rh) // 2,
        left=(tw - rw) // 2,
    )


def letterbox(images: np.ndarray, target_size: tuple[int, int]) -> tuple[np.ndarray, LetterboxGeometry]:
    """Resize ``(N, H, W, C) uint8`` images keeping the aspect ratio and pad to ``target_size``.

    Returns:
        ``(N, th, tw, C) uint8`` letterboxed images (padding = 0) and their shared geometry.
    """
    n, h, w, c = images.shape
    geom = letterbox_geometry((h, w), target_size)
    (th, tw), (rh, rw) = geom.target_size, geom.resized_size
    out = np.full((n, th, tw, c), PAD_VALUE, dtype=np.uint8)
    window = out[:, geom.top : geom.top + rh, geom.left : geom.left + rw]  # (N, rh, rw, C) view
    if (rh, rw) == (h, w):
        window[...] = images
        return out, geom
    # INTER_AREA averages when shrinking (no aliasing of speckle); INTER_LINEAR when enlarging.
    interp = cv2.INTER_AREA if rh * rw < h * w else cv2.INTER_LINEAR
    for i in range(n):
        resized = cv2.resize(np.ascontiguousarray(images[i]), (rw, rh), interpolation=interp)
        window[i] = resized.reshape(rh, rw, c)  # cv2 drops a trailing channel axis of size 1
    return out, geom


def normalize(batch: np.ndarray, device: torch.device | str = "cpu", channels_last: bool = True) -> torch.Tensor:
    """``(N, H, W, C) uint8`` -> ``(N, C, H, W) float32`` on ``device``, scaled by ``INPUT_MEAN/STD``.

    On a GPU the uint8 array crosses to the device before the float conversion (4x less to copy). On the
    CPU numpy does the arithmetic on the calling thread (the same float32 operations in the same order, so
    the same values): torch's thread pool, woken for a few hundred thousand values, cost tens of ms on busy
    cores. The result is in channels-last memory layout, which oneDNN convolutions on CPU run about 2x
    faster; ``channels_last=False`` keeps it contiguous (N, C, H, W), as ONNX Runtime reads it.
    """
    c = batch.shape[3]
    if torch.device(device).type == "cpu":
        x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)  # (N, C, H, W)
        x /= np.float32(255.0)
        x -= np.asarray(INPUT_MEAN[:c], np.float32)[:, None, None]
        x /= np.asarray(INPUT_STD[:c], np.float32)[:, None, None]
        out = torch.from_numpy(x)
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (N, C, H, W), a channels-last view
    mean = torch.tensor(INPUT_MEAN[:c], device=x.device).view(1, c, 1, 1)
    std = torch.tensor(INPUT_STD[:c], device=x.device).view(1, c, 1, 1)
    return x.sub_(mean).div_(std).contiguous(memory_format=torch.channels_last)


def preprocess(
    frames: np.ndarray,
    input_size: tuple[int, int],
    in_channels: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, LetterboxGeometry]:
    """``(N, H, W, 3) uint8 RGB`` -> ``(N, in_channels, *input_size) float32`` model input + geometry."""
    # Letterbox before deriving channels: the min/max then run on the small model-size image, not a
    # full-HD frame (~10 ms/frame saved). Averaging grey (R = G = B) with one paint colour commutes with
    # min(R, G, B), so the result differs only where two different colours blend.
    boxed, geom = letterbox(validate_frames(frames), input_size)  # (N, th, tw, 3)
    return normalize(derive_channels(boxed, in_channels), device), geom


def _picture_part(maps, geom: LetterboxGeometry):
    """The resized frame's part ``(N, rh, rw)`` of ``(N, th, tw)`` model-space maps (a tensor or an array)."""
    if maps.ndim != 3 or tuple(maps.shape[1:]) != geom.target_size:
        raise InvalidInputError(
            f"maps must be (N, {geom.target_size[0]}, {geom.target_size[1]}), got {tuple(maps.shape)}"
        )
    rh, rw = geom.resized_size
    return maps[:, geom.top : geom.top + rh, geom.left : geom.left + rw]


def unletterbox(maps: torch.Tensor, geom: LetterboxGeometry) -> torch.Tensor:
    """Map ``(N, th, tw)`` model-space maps back to the frame: ``(N, H, W)``, same dtype and device.

    Float maps (logits or probabilities) are resized bilinearly; bool masks by nearest neighbour, so a
    mask that was letterboxed without resizing comes back exactly.
    """
    crop = _picture_part(maps, geom)  # (N, rh, rw)
    h, w = geom.source_size
    if tuple(crop.shape[1:]) == (h, w):
        return crop.clone()
    if maps.dtype == torch.bool:
        up = F.interpolate(crop[:, None].to(torch.uint8), size=(h, w), mode="nearest-exact")
        return up[:, 0].bool()
    # align_corners=False matches the pixel-centre convention of cv2.resize used by letterbox.
    up = F.interpolate(crop[:, None].float(), size=(h, w), mode="bilinear", align_corners=False)
    return up[:, 0].to(maps.dtype)


def unletterbox_array(maps: np.ndarray, geom: LetterboxGeometry) -> np.ndarray:
    """``unletterbox`` for ``(N, th, tw) float32`` numpy maps on the host: ``(N, H, W) float32``.

    The same bilinear resampling with pixel centres (``cv2.resize``, ``INTER_LINEAR``) frame by frame; it
    agrees with ``unletterbox`` to about 2e-5, and needs no torch thread pool.
    """
    crop = _picture_part(maps, geom).astype(np.float32, copy=False)
    h, w = geom.source_size
    if crop.shape[1:] == (h, w):
        return crop.copy()
    return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in crop])


def fill_colour(x: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` normalised model input -> ``(B, 1, H, W)``: the B-mode with colour filled in.

    Pixels whose colour presence exceeds ``COLOUR_THRESHOLD``, grown by one pixel (the blended rim that
    resizing and chroma subsampling leave around the paint), are replaced by a push-pull estimate from the
    uncovered pixels around them: each pyramid level averages the uncovered B-mode and the uncovered share
    over 2x2 cells, then, from the coarsest level up, a covered part of a cell takes the upsampled estimate
    of the level below. Uncovered pixels keep their value exactly; a hole of any size is filled (a frame
    that is all colour gets a flat grey). Any ``(H, W)`` works: odd levels are padded to an even size.
    """
    if x.ndim != 4 or x.shape[1] != 2:
        raise InvalidInputError(f"fill_colour needs a (B, 2, H, W) input, got {tuple(x.shape)}")
    bmode = x[:, :1]
    presence = x[:, 1:] * INPUT_STD[1] + INPUT_MEAN[1]  # back to [0, 1]
    covered = F.max_pool2d((presence > COLOUR_THRESHOLD).float(), 3, stride=1, padding=1)
    weight = 1.0 - covered  # (B, 1, H, W), 1 = uncovered
    levels = [(bmode * weight, weight)]
    while min(levels[-1][0].shape[-2:]) > 1:
        value, share = levels[-1]
        h, w = value.shape[-2:]
        pad = (0, w % 2, 0, h % 2)  # replicate the last row/column so odd sizes halve cleanly
        value, share = F.pad(value, pad, mode="replicate"), F.pad(share, pad, mode="replicate")
        levels.append((F.avg_pool2d(value, 2), F.avg_pool2d(share, 2)))
    value, share = levels[-1]
    estimate = value / share.clamp_min(1e-6)
    estimate = torch.where(share > 0, estimate, torch.zeros_like(estimate))  # all covered: mid grey (0)
    for value, share in reversed(levels[:-1]):
        h, w = value.shape[-2:]
        up = F.interpolate(estimate, size=(h + h % 2, w + w % 2), mode="bilinear", align_corners=False)
        up = up[..., :h, :w]
        # value = share * (mean uncovered B-mode of the cell): the covered share takes the estimate below.
        # At full resolution share is 0 or 1, so uncovered pixels keep their own value.
        estimate = value + (1.0 - share) * up
    return estimate

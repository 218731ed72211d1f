"""A compact 2D U-Net that segments the tendon on one ultrasound frame.

The network follows the usual encoder/decoder layout (Ronneberger et al., 2015, "U-Net: Convolutional
Networks for Biomedical Image Segmentation"): double conv-BN-ReLU blocks, 2x2 max-pooling on the way down,
2x2 transposed convolutions on the way up, skip connections by concatenation and a 1x1 convolution that
gives one logit per pixel at the input resolution.

Numbers live in the builder functions and ``MODEL_REGISTRY``; ``UNet`` receives a typed ``UNetArgs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from models.transforms import INPUT_TRANSFORMS, fill_colour

__all__ = [
    "INPUT_VIEWS",
    "MODEL_REGISTRY",
    "ContextBlock",
    "PresenceHead",
    "UNet",
    "UNetArgs",
    "UnknownModelError",
    "build_model",
    "build_unet_small",
    "build_unet_small_fill",
    "build_unet_tiny",
    "presence_features",
]

INPUT_VIEWS = ("screen", "picture")  # see UNetArgs.input_view
CONTEXT_HEAD_CHANNELS = 32  # channels per attention head of a ContextBlock


class UnknownModelError(KeyError):
    """Raised when a model is requested by a name that ``MODEL_REGISTRY`` does not know."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a sentence reads better without the quotes.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class UNetArgs:
    """Architecture of a ``UNet``; stored beside the weights so a checkpoint rebuilds its own model.

    Attributes:
        in_channels: channels of the model input; 2 = B-mode estimate + colour presence
            (see ``models.transforms``), 1 = B-mode estimate only.
        out_channels: logit channels of the output; 1 for the binary tendon mask.
        base_channels: feature channels of the first encoder level; each level below doubles them.
        depth: number of 2x downsamplings; ``input_size`` must be divisible by ``2 ** depth``.
        input_size: fixed model input ``(H, W)`` in pixels; frames are letterboxed to it.
        input_transform: what the network makes of the ``in_channels`` input before its first layer
            (``models.transforms.INPUT_TRANSFORMS``): ``"minmax"`` feeds the channels as they are (every
            model saved before this field existed); ``"fill"`` (needs ``in_channels == 2``) replaces the
            colour-covered pixels of the B-mode with a fill from the grey around them and feeds that one
            channel, so Doppler colour cannot act as a cue for the tendon.
        input_view: what of a frame the model was trained to see (``INPUT_VIEWS``): ``"screen"`` (the
            whole frame, letterboxed) or ``"picture"`` (only the ultrasound picture's rectangle, which the
            caller passes as ``area``; the frame is cropped to it before letterboxing, so the tendon is
            seen at a higher resolution and the scanner's interface never enters the input).
        presence: whether the network also says if the picture holds a tendon at all (``PresenceHead``):
            a second output, one logit per frame, fitted after the segmentation by
            ``models.training.presence``; 0 is its decision boundary.
        context: ``ContextBlock`` layers on the bottleneck (0: none): each lets every position of the
            coarsest feature map see every other, so the decoder outlines a band or an oval as one
            structure rather than from local patches.
    """

    in_channels: int = 2
    out_channels: int = 1
    base_channels: int = 8
    depth: int = 4
    input_size: tuple[int, int] = field(default=(256, 256))
    input_transform: str = "minmax"
    input_view: str = "screen"
    presence: bool = False
    context: int = 0

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; normalise so equality and hashing keep working.
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        for name in ("in_channels", "out_channels", "base_channels", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"UNetArgs.{name} must be a positive int, got {value!r}")
        if not isinstance(self.context, int) or isinstance(self.context, bool) or self.context < 0:
            raise ValueError(f"UNetArgs.context must be an int >= 0, got {self.context!r}")
        if self.context and (self.base_channels * 2**self.depth) % CONTEXT_HEAD_CHANNELS:
            raise ValueError(
                f"UNetArgs.context needs bottleneck channels (base_channels * 2**depth = "
                f"{self.base_channels * 2**self.depth}) divisible by {CONTEXT_HEAD_CHANNELS}"
            )
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"UNetArgs.input_size must be (H, W) with H, W >= 1, got {self.input_size!r}")
        if self.input_transform not in INPUT_TRANSFORMS:
            raise ValueError(
                f"UNetArgs.input_transform must be one of {sorted(INPUT_TRANSFORMS)}, got {self.input_transform!r}"
            )
        if self.input_transform == "fill" and self.in_channels != 2:
            raise ValueError("UNetArgs.input_transform 'fill' needs in_channels=2 (B-mode + colour presence)")
        if self.input_view not in INPUT_VIEWS:
            raise ValueError(f"UNetArgs.input_view must be one of {list(INPUT_VIEWS)}, got {self.input_view!r}")
        stride = 2**self.depth
        if any(v % stride for v in self.input_size):
            raise ValueError(
                f"UNetArgs.input_size {self.input_size} must be divisible by 2**depth = {stride}; "
                f"pick a multiple of {stride} or a smaller depth"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``input_size`` becomes a list."""
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        if self.input_transform == "minmax":
            del data["input_transform"]  # the default: manifests of older models read the same
        if self.input_view == "screen":
            del data["input_view"]
        if not self.presence:
            del data["presence"]  # models without the head read as before
        if not self.context:
            del data["context"]
        return data

    @property
    def stem_channels(self) -> int:
        """Channels the first convolution takes, after ``input_transform``."""
        return self.in_channels if self.input_transform == "minmax" else INPUT_TRANSFORMS[self.input_transform]


class ConvBlock(nn.Sequential):
    """Two 3x3 conv-BN-ReLU layers; ``(B, in_ch, H, W) -> (B, out_ch, H, W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        # bias=False: the following BatchNorm's shift makes a conv bias redundant.
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class UpBlock(nn.Module):
    """Upsample 2x, concatenate the skip, then a ``ConvBlock``."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        # A 2x2 stride-2 transposed conv is cheaper on CPU than bilinear upsampling + conv and learns
        # the upsampling kernel; it also halves the channels before the concatenation.
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = ConvBlock(out_ch + skip_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (B, out_ch, 2h, 2w)
        return self.conv(torch.cat([x, skip], dim=1))


class ContextBlock(nn.Module):
    """Global self-attention over the bottleneck: ``(B, C, h, w) -> (B, C, h, w)``.

    A pre-norm transformer layer (Vaswani et al., 2017) on the ``h * w`` positions as tokens: multi-head
    attention (``C / CONTEXT_HEAD_CHANNELS`` heads), then a two-layer perceptron (``2C`` hidden), each added
    to its input. No position embedding: the convolutions before it already encode where each feature is,
    and the block then works at any input size. Both residual branches end in a zero-initialised layer, so
    a block added to a trained network leaves its output unchanged until fine-tuning moves it. At 16x16
    positions and 128 channels it costs about 25 MFLOP a frame, under 2 % of the network.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.heads = channels // CONTEXT_HEAD_CHANNELS
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        for last in (self.proj, self.mlp[2]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (B, N, C), N = h * w
        q, k, v = (
            self.qkv(self.norm1(t)).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        )
        attn = torch.softmax((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5, dim=-1)  # (B, heads, N, N)
        t = t + self.proj((attn @ v).transpose(1, 2).reshape(b, h * w, c))
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


def presence_features(bottleneck: torch.Tensor, decoder: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``(B, 2 * Cb + Cd + 3)`` figures a presence head reads: the bottleneck ``(B, Cb, h, w)``'s mean and
    maximum over the frame, the last decoder features ``(B, Cd, H, W)`` averaged under the tendon probability,
    and three figures of the probability map from ``logits (B, 1, H, W)``: the share above 0.5, the maximum,
    the mean over the pixels above 0.5."""
    probs = torch.sigmoid(logits.float())[:, 0]  # (B, H, W)
    inside = (probs > 0.5).float()
    weights = probs / (probs.sum(dim=(1, 2), keepdim=True) + 1e-6)
    region = (decoder.float() * weights[:, None]).sum(dim=(2, 3))  # (B, Cd)
    share = inside.mean(dim=(1, 2))
    peak = probs.amax(dim=(1, 2))
    mean_inside = (probs * inside).sum(dim=(1, 2)) / (inside.sum(dim=(1, 2)) + 1e-6)
    b = bottleneck.float()
    figures = torch.stack([share, peak, mean_inside], dim=1)
    return torch.cat([b.mean(dim=(2, 3)), b.amax(dim=(2, 3)), region, figures], dim=1)


class PresenceHead(nn.Module):
    """Whether a frame holds a tendon: one logit per frame, > 0 for "a tendon is there".

    A linear function of what the segmentation network already computed (``presence_features``): what the
    picture is (the bottleneck) and what the outlined region looks like (the last decoder features under the
    tendon probability, and the probability map's figures). The segmentation alone outlines any bright band;
    the head is fitted on frames with and without a tendon, real B-mode images of other anatomy among them
    (``models.training.presence``), so a carotid wall or a nerve sheath can be told from a tendon without
    changing the outline.
    """

    def __init__(self, args: UNetArgs) -> None:
        super().__init__()
        self.features = 2 * args.base_channels * 2**args.depth + args.base_channels + 3
        self.linear = nn.Linear(self.features, 1)

    def forward(self, bottleneck: torch.Tensor, decoder: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``(B,)`` presence logits."""
        return self.linear(presence_features(bottleneck, decoder, logits))[:, 0]


class UNet(nn.Module):
    """U-Net: ``(B, in_channels, H, W)`` float input -> ``(B, out_channels, H, W)`` logits.

    ``H`` and ``W`` must be divisible by ``2 ** args.depth``; the predictor always feeds
    ``args.input_size``.
    """

    def __init__(self, args: UNetArgs) -> None:
        super().__init__()
        self.args = args
        widths = [args.base_channels * 2**level for level in range(args.depth + 1)]
        self.stem = ConvBlock(args.stem_channels, widths[0])
        self.down = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(args.depth))
        self.pool = nn.MaxPool2d(kernel_size=2)
        self.up = nn.ModuleList(UpBlock(widths[i + 1], widths[i], widths[i]) for i in reversed(range(args.depth)))
        self.context = nn.Sequential(*(ContextBlock(widths[-1]) for _ in range(args.context)))
        self.head = nn.Conv2d(widths[0], args.out_channels, kernel_size=1)
        self.presence = PresenceHead(args) if args.presence else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` float -> ``(B, out_channels, H, W)`` logits (unbounded)."""
        return self.forward_parts(x)[0]

    def rebuilt(self, args: UNetArgs) -> UNet:
        """A new network of ``args``, in this one's mode and on its device: every tensor whose name and shape
        the two share carries over; the others (a presence head or context blocks added) start as built."""
        new = UNet(args)
        state = new.state_dict()
        state.update({k: v for k, v in self.state_dict().items() if k in state and state[k].shape == v.shape})
        new.load_state_dict(state)
        return new.to(next(self.parameters()).device).train(self.training)

    def without_presence(self) -> UNet:
        """This network without its presence head (itself when it has none): a new model with the same
        segmentation weights, in the same mode and on the same device."""
        return self if self.presence is None else self.rebuilt(replace(self.args, presence=False))

    def forward_with_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``forward``'s logits and, with a ``PresenceHead``, ``(B,)`` presence logits (else None)."""
        logits, bottleneck, decoder = self.forward_parts(x)
        if self.presence is None:
            return logits, None
        return logits, self.presence(bottleneck, decoder, logits)

    def forward_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, the bottleneck ``(B, C * 2**depth, H / 2**depth, W / 2**depth)`` (after the context
        blocks) and the last decoder features ``(B, C, H, W)``."""
        if self.args.input_transform == "fill":
            x = fill_colour(x)
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(self.pool(skips[-1])))
        y = bottleneck = self.context(skips.pop())
        for block in self.up:
            y = block(y, skips.pop())
        return self.head(y), bottleneck, y


def build_unet_tiny() -> UNetArgs:
    """A very small model for smoke tests and quick experiments (~30 k parameters, 0.12 MB)."""
    return UNetArgs(base_channels=4, depth=3, input_size=(128, 128))


def build_unet_small() -> UNetArgs:
    """The default model: 256x256 input, 8 base channels, 4 levels (~0.5 M parameters, ~2 MB float32).

    Sized for the CPU budget of <= 25 ms/frame at batch 8 on two cores; 256 px keeps a tendon
    (typically a few mm thick on a ~4 cm field of view) tens of pixels thick.
    """
    return UNetArgs(base_channels=8, depth=4, input_size=(256, 256))


def build_unet_small_fill() -> UNetArgs:
    """``unet_small`` that sees the B-mode with Doppler colour filled from the grey around it
    (``input_transform="fill"``): colour-blind by construction; the same network, the fill adds about 6 ms a
    frame on two CPU cores (batch 8)."""
    return UNetArgs(base_channels=8, depth=4, input_size=(256, 256), input_transform="fill")


def build_unet_base() -> UNetArgs:
    """A wider variant for GPU deployments (~2 M parameters); about 4x the CPU cost of ``unet_small``."""
    return UNetArgs(base_channels=16, depth=4, input_size=(256, 256))


def build_unet_deep() -> UNetArgs:
    """``unet_base`` with a fifth level (~7.8 M parameters, ~31 MB float32): the bottleneck sees 32x the
    input stride, more context for a few extra percent of compute (the added level runs at 1/32 size)."""
    return UNetArgs(base_channels=16, depth=5, input_size=(256, 256))


def build_unet_wide() -> UNetArgs:
    """``unet_base`` with twice the channels (~7.8 M parameters, ~31 MB float32; ~4x its compute)."""
    return UNetArgs(base_channels=32, depth=4, input_size=(256, 256))


# Name -> builder of the default architecture args. The manifest stores the name under "architecture".
MODEL_REGISTRY: dict[str, Callable[[], UNetArgs]] = {
    "unet_tiny": build_unet_tiny,
    "unet_small": build_unet_small,
    "unet_small_fill": build_unet_small_fill,
    "unet_base": build_unet_base,
    "unet_deep": build_unet_deep,
    "unet_wide": build_unet_wide,
}


def build_model(name: str, args: UNetArgs | None = None) -> UNet:
    """Build an untrained ``UNet`` by registry name.

    Args:
        name: a key of ``MODEL_REGISTRY``.
        args: architecture overriding the registry defaults (e.g. the args stored with weights);
            ``None`` uses the builder's defaults.

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the known names.
    """
    builder = MODEL_REGISTRY.get(name)
    if builder is None:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    return UNet(args if args is not None else builder())

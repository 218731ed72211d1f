"""Export a model of a weights folder as an ONNX graph beside its weights, for ONNX Runtime on the CPU.

    python -m models.training.onnx_export --weights weights [--name NAME]

The graph is the network exactly as loaded for inference (float16-stored weights widened to float32,
the input transform inside), with a dynamic batch axis; a network with a presence head gets a second
output, ``presence`` (one logit per frame). Before it is listed in MANIFEST.json it is run by
ONNX Runtime on synthetic frames of every batch size the predictor uses and must give the torch model's
masks on every pixel (probabilities within ``MAX_PROB_DIFF``); otherwise nothing is written. Exporting
needs the ``onnx`` and ``onnxscript`` packages (the test extra); running the graph needs ``onnxruntime``
only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.onnx_runtime import OnnxNetwork
from models.transforms import preprocess
from models.unet import UNet
from models.weights import attach_onnx_graph, load_model

MAX_PROB_DIFF = 1e-4  # float32 kernels of two runtimes differ by ~1e-6; a wrong graph differs by far more
CHECK_BATCHES = (1, 3, 8)


class _WithPresence(torch.nn.Module):
    """``UNet.forward_with_presence`` as a module's forward, for the exporter."""

    def __init__(self, model: UNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_with_presence(x)


def export_graph(model: UNet) -> bytes:
    """The network as ONNX bytes (opset chosen by torch's exporter), batch axis dynamic: output ``logits``,
    and ``presence`` for a model with a presence head."""
    model = model.eval().to(memory_format=torch.contiguous_format)
    module, outputs = model, ["logits"]
    if model.args.presence:
        module, outputs = _WithPresence(model).eval(), ["logits", "presence"]
    c, (h, w) = model.args.in_channels, model.args.input_size
    example = torch.zeros((2, c, h, w), dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1, max=1024)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        path = Path(tmp) / "network.onnx"
        torch.onnx.export(
            module, (example,), str(path), input_names=["x"], output_names=outputs,
            dynamic_shapes={"x": {0: batch}}, external_data=False,
        )  # fmt: skip
        return path.read_bytes()


def check_graph(model: UNet, graph: bytes, frames: np.ndarray) -> float:
    """The largest probability difference between the graph and ``model`` on ``frames`` over the batch
    sizes of ``CHECK_BATCHES`` (tendon maps, and presence for a model with the head).

    Raises:
        ValueError: a mask pixel or a presence decision differs, or a probability differs by more than
            ``MAX_PROB_DIFF``.
    """
    network = OnnxNetwork(graph, torch.get_num_threads())
    x, _ = preprocess(frames, model.args.input_size, model.args.in_channels)
    worst = 0.0
    with torch.inference_mode():
        for n in CHECK_BATCHES:
            ref_logits, ref_presence = model.forward_with_presence(x[:n])
            got_logits, got_presence = network(x[:n])
            if (ref_presence is None) != (got_presence is None):
                raise ValueError("the ONNX graph's outputs do not match the model's (presence head)")
            pairs = [(ref_logits, got_logits)] + ([] if ref_presence is None else [(ref_presence, got_presence)])
            mismatch = False
            for ref_out, got_out in pairs:
                ref, got = torch.sigmoid(ref_out), torch.sigmoid(got_out)
                worst = max(worst, float((ref - got).abs().max()))
                mismatch = mismatch or bool(((ref > 0.5) != (got > 0.5)).any())
            if mismatch or worst > MAX_PROB_DIFF:
                raise ValueError(f"the ONNX graph differs from the model at batch {n} (max diff {worst:.2g})")
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="weights folder with MANIFEST.json")
    parser.add_argument("--name", default=None, help="model to export (default: the first listed)")
    args = parser.parse_args(argv)
    from models.training.synth import make_dataset  # synthetic frames to check the graph on

    model, entry = load_model(args.weights, args.name, "cpu")
    graph = export_graph(model)
    frames, _ = make_dataset(max(CHECK_BATCHES), 7)
    try:
        worst = check_graph(model, graph, frames)
    except ValueError as exc:
        print(json.dumps({"error": {"code": "onnx_mismatch", "message": str(exc)}}), file=sys.stderr)
        return 1
    entry = attach_onnx_graph(args.weights, entry.name, graph)
    print(json.dumps({"model": entry.name, "onnx": entry.onnx, "bytes": len(graph), "max_prob_diff": worst}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ways to run the tendon network on the CPU, side by side: speed and agreement with what ships.

Each option runs the same network (the first model of ``--weights``, its tendon map: a presence head is
left out, so every option computes the same) on the same model-ready batches
(synthetic frames through ``models.transforms.preprocess``); the options take turns in every round, so
that a slow spell of the machine hits them alike. Reported per option: the median and best milliseconds
per frame, the speed relative to the shipped way (eager PyTorch, channels-last), the largest difference
of any probability from it, and the share of pixels whose mask (probability > 0.5) differs.

* ``eager-channels-last``: what ``TendonSegmenter`` does (the reference);
* ``eager-contiguous``: the same in NCHW layout;
* ``torchscript-frozen``: ``torch.jit.trace`` + ``torch.jit.freeze`` (constant folding, conv-BN fusion);
* ``torch-compile``: ``torch.compile`` (Inductor; compile time reported apart, needs a C++ compiler);
* ``onnxruntime``: the graph ``python -m models.training.onnx_export`` ships, run by
  ``models.onnx_runtime.OnnxNetwork`` as the predictor runs it (needs ``onnx`` and ``onnxscript`` to export);
* ``onnxruntime-int8``: that graph with its convolutions quantized to 8 bits (ONNX Runtime's static
  quantization: per-channel int8 weights, uint8 activations whose ranges are calibrated on other synthetic
  frames than the timed ones);
* ``openvino``: the same ONNX export compiled by OpenVINO's CPU plugin (float32 inference precision, the thread
  count fixed, latency hint); where the ``openvino`` package is not installed (it is not a dependency), skipped;
* ``bfloat16``: CPU autocast to bfloat16, only where the CPU has native bfloat16 (AVX512-BF16 or AMX);
  otherwise reported as skipped: emulated bfloat16 is slower than float32.

    python benchmarks/inference_options.py [--batch 8] [--rounds 15] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models import TendonSegmenter, UNet
from models.onnx_runtime import OnnxNetwork
from models.training.onnx_export import export_graph
from models.training.synth import make_dataset
from models.transforms import preprocess

REPO = Path(__file__).resolve().parents[1]
Runner = Callable[[torch.Tensor], np.ndarray]  # model-ready batch -> (B, H, W) probabilities


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _eager(model: torch.nn.Module, layout: torch.memory_format) -> Runner:
    model = model.to(memory_format=layout)

    @torch.inference_mode()
    def run(x: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(model(x.contiguous(memory_format=layout)))[:, 0].numpy()

    return run


def _torchscript(model: torch.nn.Module, example: torch.Tensor) -> Runner:
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.freeze(torch.jit.trace(model, example))
        traced = torch.jit.optimize_for_inference(traced)

    @torch.no_grad()
    def run(x: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(traced(x))[:, 0].numpy()

    return run


def _compiled(model: torch.nn.Module) -> Runner:
    compiled = torch.compile(model, dynamic=False)

    @torch.inference_mode()
    def run(x: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(compiled(x))[:, 0].numpy()

    return run


def _onnxruntime(model: UNet, threads: int) -> Runner:
    """What the predictor runs on the CPU: the shipped export (``export_graph``) in ``OnnxNetwork``."""
    network = OnnxNetwork(export_graph(model), threads)

    def run(x: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(network(x)[0])[:, 0].numpy()

    return run


def _onnxruntime_int8(model: UNet, threads: int, calibration: list[torch.Tensor]) -> Runner:
    """The shipped export with its convolutions statically quantized to int8, calibrated on ``calibration``."""
    import onnxruntime as ort  # optional dependencies: only here
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    graph = export_graph(model)
    name = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    feeds = iter([{name: x[i : i + 1].numpy()} for x in calibration for i in range(x.shape[0])])

    class Feeds(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return next(feeds, None)

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice to pre-process the graph first
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "float32.onnx"), Path(tmp, "int8.onnx")
        source.write_bytes(graph)
        quantize_static(
            source, target, Feeds(), quant_format=QuantFormat.QOperator, op_types_to_quantize=["Conv", "ConvTranspose"],
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
        network = OnnxNetwork(target.read_bytes(), threads)

    def run(x: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(network(x)[0])[:, 0].numpy()

    return run


def _openvino(model: UNet, threads: int) -> Runner:
    """The shipped export compiled by OpenVINO for the CPU, in float32 (its default on CPUs with bfloat16 would
    change the numbers), on ``threads`` threads."""
    import openvino as ov  # optional, not a dependency: only here

    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "network.onnx")
        path.write_bytes(export_graph(model))
        compiled = core.compile_model(
            core.read_model(str(path)), "CPU",
            {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
        )  # fmt: skip
    request = compiled.create_infer_request()
    output = compiled.outputs[0]

    def run(x: torch.Tensor) -> np.ndarray:
        logits = request.infer({0: np.ascontiguousarray(x.numpy(), np.float32)})[output]
        return torch.sigmoid(torch.from_numpy(np.array(logits)))[:, 0].numpy()

    return run


def _bfloat16(model: torch.nn.Module) -> Runner:
    model = model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(x: torch.Tensor) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x.contiguous(memory_format=torch.channels_last))
        return torch.sigmoid(logits.float())[:, 0].numpy()

    return run


def build_options(
    model: torch.nn.Module, example: torch.Tensor, threads: int, calibration: list[torch.Tensor]
) -> tuple[dict, dict]:
    """``{name: runner}`` and ``{name: why it was skipped, or its set-up seconds}``; ``calibration``: model-ready
    batches of other frames than the timed ones, for the int8 option's activation ranges."""
    # Each option gets its own copy: Module.to(memory_format=...) changes a model in place.
    options: dict[str, Runner] = {"eager-channels-last": _eager(copy.deepcopy(model), torch.channels_last)}
    notes: dict[str, str] = {}
    makers: dict[str, Callable[[], Runner]] = {
        "eager-contiguous": lambda: _eager(copy.deepcopy(model), torch.contiguous_format),
        "torchscript-frozen": lambda: _torchscript(copy.deepcopy(model), example),
        "torch-compile": lambda: _compiled(copy.deepcopy(model)),
        "onnxruntime": lambda: _onnxruntime(copy.deepcopy(model), threads),
        "onnxruntime-int8": lambda: _onnxruntime_int8(copy.deepcopy(model), threads, calibration),
        "openvino": lambda: _openvino(copy.deepcopy(model), threads),
    }
    if _cpu_has_native_bf16():
        makers["bfloat16"] = lambda: _bfloat16(copy.deepcopy(model))
    else:
        notes["bfloat16"] = "skipped: this CPU has no native bfloat16 (AVX512-BF16 or AMX)"
    for name, make in makers.items():
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                runner = make()
                runner(example)  # first call: compilation, graph optimisation
        except Exception as exc:  # an option that cannot run here is reported, not fatal
            notes[name] = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            continue
        options[name] = runner
        notes[name] = f"set-up {time.perf_counter() - t0:.1f} s"
    return options, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seg = TendonSegmenter.from_weights(args.weights, device="cpu")
    model = seg._model.eval()  # the network itself: the options differ only in how it is run
    model = model.without_presence()  # the tendon map alone (the head's cost: benchmarks/segment.py)
    frames, _ = make_dataset(args.batch * 4, seed=99)
    batches = [
        preprocess(frames[i : i + args.batch], seg.args.input_size, seg.args.in_channels)[0]
        for i in range(0, len(frames), args.batch)
    ]
    other, _ = make_dataset(32, seed=98)
    calibration = [preprocess(other[i : i + 8], seg.args.input_size, seg.args.in_channels)[0] for i in range(0, 32, 8)]
    options, notes = build_options(model, batches[0].contiguous(), args.threads, calibration)
    reference = [options["eager-channels-last"](x) for x in batches]
    times: dict[str, list[float]] = {name: [] for name in options}
    for r in range(args.rounds):
        x = batches[r % len(batches)]
        for name, run in options.items():
            t0 = time.perf_counter()
            run(x)
            times[name].append((time.perf_counter() - t0) * 1000 / args.batch)
    base = statistics.median(times["eager-channels-last"])
    rows = []
    for name, run in options.items():
        probs = [run(x) for x in batches]
        diff = max(float(np.abs(p - q).max()) for p, q in zip(probs, reference, strict=True))
        flips = np.mean([float(((p > 0.5) != (q > 0.5)).mean()) for p, q in zip(probs, reference, strict=True)])
        median = statistics.median(times[name])
        rows.append({
            "option": name, "median_ms_per_frame": round(median, 2), "best_ms_per_frame": round(min(times[name]), 2),
            "speed_vs_shipped": round(base / median, 2), "max_prob_diff": float(f"{diff:.2g}"),
            "mask_pixels_differing": float(f"{flips:.2g}"), "note": notes.get(name, ""),
        })  # fmt: skip
    skipped = [{"option": name, "note": note} for name, note in notes.items() if name not in options]
    if args.json:
        for row in rows + skipped:
            print(json.dumps({"batch": args.batch, "threads": args.threads, "model": seg.name, **row}))
        return
    size = "x".join(map(str, seg.args.input_size))
    print(f"model {seg.name}, batch {args.batch}, {args.threads} threads, {args.rounds} rounds, input {size}")
    print("| option | median ms/frame | best ms/frame | speed vs shipped | max prob. diff | mask px differing | note |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(" | ".join(["", *(str(v) for v in row.values()), ""]).strip())
    for row in skipped:
        print(f"| {row['option']} | - | - | - | - | - | {row['note']} |")


if __name__ == "__main__":
    main()

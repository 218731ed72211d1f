"""The tendon network run by ONNX Runtime on the CPU: the same logits as the torch model, faster.

On the 2-core CPU of docs/benchmarks.md ("Ways to run the network on the CPU") ONNX Runtime runs the
shipped network about 1.8 times faster than eager PyTorch with no mask pixel different. The graph is
exported once, beside the weights, by ``python -m models.training.onnx_export`` (which checks it against
the torch model before listing it), and loaded here from its verified bytes. Where ``onnxruntime`` is not
installed, or the manifest lists no graph, the predictor runs the torch model.
"""

from __future__ import annotations

import atexit
import importlib.util
import weakref

import numpy as np
import torch

__all__ = ["OnnxNetwork", "onnxruntime_available", "release_sessions"]

# Every session still open. ONNX Runtime keeps a process-wide environment (its thread pools, logging) in a C++
# static that is destroyed when the process ends; a session that outlives the interpreter (held by a cache or a
# module global) is then torn down after it, and its threads can read freed memory: a segmentation fault at
# exit, after every result was written (seen at the end of a test-suite run, in libstdc++ on a worker thread).
# The sessions are released when the interpreter begins to exit instead, while that environment still lives.
_OPEN: weakref.WeakSet[OnnxNetwork] = weakref.WeakSet()


def release_sessions() -> None:
    """Release every open ONNX Runtime session (run at interpreter exit; a released network refuses to run)."""
    for network in list(_OPEN):
        network.close()


atexit.register(release_sessions)


def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` package can be imported (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxNetwork:
    """An ONNX Runtime session of the network: ``(B, C, H, W) float32`` input -> ``(B, 1, H, W)`` logits and,
    for a graph of a network with a presence head (a second output), ``(B,)`` presence logits."""

    def __init__(self, graph: bytes, threads: int) -> None:
        import onnxruntime as ort  # optional dependency: only here

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        # Idle threads sleep instead of spinning: the counting kernel and the decoder share these cores, and
        # a spinning pool slowed a single frame 1.4x on a busy 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        _OPEN.add(self)

    def close(self) -> None:
        """Release the session (its memory and threads) now; calling the network afterwards raises."""
        self._session = None
        _OPEN.discard(self)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, presence or None)``, as ``UNet.forward_with_presence``."""
        session = self._session
        if session is None:
            raise RuntimeError("this ONNX Runtime network was closed (the process is exiting)")
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).contiguous().numpy())
        logits, *presence = session.run(None, {self._input: batch})
        return torch.from_numpy(logits), torch.from_numpy(presence[0]) if presence else None

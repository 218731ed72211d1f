"""One model call for the frames of several concurrent callers (``BatchedForward``).

A service that grades several uploads at once segments each upload's frames in its own worker thread.
On a GPU, small calls from several threads leave it mostly idle and contend for it; one thread that owns
the model and runs the inputs waiting for it as one batch keeps it busy with fewer, larger calls. The
rows of every input are concatenated along the batch axis, run through ``forward`` once, and split back,
so each caller gets exactly the rows it sent. The network treats the rows of a batch independently
(BatchNorm in eval mode), so a caller's rows come back as a call of its own would give them, up to the
last bits of floating point that a different batch size may change.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["BatchedForward"]

DEFAULT_MAX_ROWS = 32  # frames per call: 32 x 2 x 256 x 256 float32 inputs are 16 MB
DEFAULT_GATHER_S = 0.005  # how long a call waits for other callers' frames when it is not full


@dataclass
class _Pending:
    x: torch.Tensor  # (B, ...) one caller's rows
    done: threading.Event = field(default_factory=threading.Event)
    out: Any = None
    error: BaseException | None = None


class BatchedForward:
    """``forward`` run by one thread for all callers: ``(B, ...) tensor -> (B, ...) tensor`` per caller.

    Calls block until their rows are done. Inputs waiting together, of the same shape past the batch
    axis, dtype and device, go through one ``forward`` call of at most ``max_rows`` rows (a single larger
    input runs alone). When fewer rows wait, the thread waits up to ``gather_s`` for more. An exception
    of ``forward`` is raised in every caller of that call. ``calls`` counts the ``forward`` calls made and
    ``rows`` the rows they held.
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], Any],
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        gather_s: float = DEFAULT_GATHER_S,
        name: str = "model-batching",
    ) -> None:
        if max_rows < 1 or gather_s < 0:
            raise ValueError(f"max_rows must be >= 1 and gather_s >= 0, got {max_rows} and {gather_s}")
        self._forward, self.max_rows, self.gather_s = forward, max_rows, gather_s
        self._pending: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.calls = 0
        self.rows = 0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x``'s rows through ``forward``, with those of other callers waiting at the same time."""
        item = _Pending(x)
        with self._ready:
            if self._closed:
                raise RuntimeError("the batching thread is closed")
            self._pending.append(item)
            self._ready.notify_all()
        item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.out is not None
        return item.out

    def close(self) -> None:
        """Finish the inputs already waiting, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._thread.join()

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _next_batch(self) -> list[_Pending] | None:
        """The next inputs to run together (oldest first), or None once closed and drained."""
        with self._ready:
            while not self._pending:
                if self._closed:
                    return None
                self._ready.wait()
            deadline = time.monotonic() + self.gather_s
            while not self._closed and self._waiting_rows() < self.max_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            first = self._pending.popleft()
            batch, rows, kept = [first], len(first.x), deque()
            while self._pending:
                item = self._pending.popleft()
                if _joins(first.x, item.x) and rows + len(item.x) <= self.max_rows:
                    batch.append(item)
                    rows += len(item.x)
                else:
                    kept.append(item)
            self._pending = kept
            return batch

    def _waiting_rows(self) -> int:
        return sum(len(item.x) for item in self._pending)

    def _run(self, batch: list[_Pending]) -> None:
        sizes = [len(item.x) for item in batch]
        try:
            x = batch[0].x if len(batch) == 1 else torch.cat([item.x for item in batch])
            out = self._forward(x)  # (sum(sizes), ...), or a tuple of such tensors (and Nones)
            self.calls += 1
            self.rows += sum(sizes)
            for item, part in zip(batch, _split(out, sizes), strict=True):
                item.out = part
        except BaseException as exc:  # handed to the callers, who raise it in their own threads
            for item in batch:
                item.error = exc
        finally:
            for item in batch:
                item.done.set()


def _split(out: Any, sizes: list[int]) -> list[Any]:
    """``out`` cut along the batch axis into the callers' parts; a tuple output is cut element by element
    (a None element stays None in every part)."""
    if not isinstance(out, tuple):
        return list(torch.split(out, sizes))
    columns = [torch.split(o, sizes) if o is not None else [None] * len(sizes) for o in out]
    return [tuple(column[i] for column in columns) for i in range(len(sizes))]


def _joins(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``b``'s rows can be concatenated to ``a``'s."""
    return a.shape[1:] == b.shape[1:] and a.dtype == b.dtype and a.device == b.device

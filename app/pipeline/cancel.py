"""Cooperative stopping of a running analysis: a time limit, a client gone, a job cancelled.

Python cannot kill a thread, so the analysis stops itself: the pipeline calls :meth:`StopFlag.check`
before decoding and between batches of frames, and the check raises the reason once the flag is set
or the deadline has passed. Work therefore ends within one batch (at most 64 frames, about 64 MB of
pixels) of being asked to, and the worker is free for the next request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.errors import NeovascError, RequestTimeout

# (frames measured so far, frames to measure in all) after each batch
Progress = Callable[[int, int], None]


class StopFlag:
    """Set from any thread; checked by the analysis. ``deadline_s``: seconds from now, None for no limit."""

    def __init__(self, deadline_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline: float | None = None
        self._limit_s: float | None = None
        self._reason: NeovascError | None = None
        self._lock = threading.Lock()
        if deadline_s is not None:
            self.limit(deadline_s)

    def limit(self, deadline_s: float) -> None:
        """Stop ``deadline_s`` seconds from now (a job's limit starts when a worker takes it, not when queued)."""
        self._deadline, self._limit_s = self._clock() + deadline_s, deadline_s

    def stop(self, reason: NeovascError) -> None:
        """Ask the analysis to stop with ``reason`` (the first reason given wins)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason

    @property
    def reason(self) -> NeovascError | None:
        """Why the work must stop (the deadline counts once passed), or None while it may go on."""
        if self._reason is None and self._deadline is not None and self._clock() >= self._deadline:
            self.stop(
                RequestTimeout(
                    f"the analysis ran past the time limit of {self._limit_s:g} s and was stopped; sample the clip "
                    "(every, max_frames) or grade it as a job (POST /v1/jobs)"
                )
            )
        return self._reason

    def check(self) -> None:
        """Raise the reason to stop, if there is one (called by the pipeline between steps)."""
        reason = self.reason
        if reason is not None:
            raise reason

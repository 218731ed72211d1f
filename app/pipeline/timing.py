"""Wall-clock time per pipeline step, reported in ``Result.timing_ms``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timer:
    """Milliseconds per named step; a step entered several times (once per batch) adds up."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0

    def rounded(self) -> dict[str, float]:
        """The totals in milliseconds, to the microsecond."""
        return {name: round(ms, 3) for name, ms in self.ms.items()}

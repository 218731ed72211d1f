"""Service metrics in the Prometheus text exposition format (version 0.0.4), written here without a client library.

Counted in the process (a restart starts from zero, as Prometheus expects of counters): requests by route
template and status, their latency as a histogram, errors by ``code``, frames graded; and read when scraped:
uploads in flight, jobs queued and running, the device. Labels hold route templates and error codes only,
never paths, ids or file names.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request latency buckets in seconds: health checks (ms) to long clips (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, math.inf)


def _label_value(text: str) -> str:
    """A label value escaped as the format requires (backslash, double quote, newline)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in pairs.items()) + "}" if pairs else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


class Metrics:
    """Counters and the latency histogram of one service process; safe to update from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (method, route, status) -> count
        self.errors: Counter[str] = Counter()  # error code -> count
        self._buckets: dict[str, list[int]] = {}  # route -> cumulative counts per LATENCY_BUCKETS
        self._sums: Counter[str] = Counter()  # route -> seconds
        self.frames_graded = 0
        self.uploads_in_flight = 0  # kept by app.api.limits.UploadGate, on the event loop

    def observe_request(
        self, method: str | None, route: str | None, status: int | None, seconds: float, code: str | None
    ) -> None:
        """Count one finished request (``route``: the template, None when no route matched)."""
        route_label = route or "unmatched"
        with self._lock:
            self.requests[(method or "", route_label, str(status or 0))] += 1
            buckets = self._buckets.setdefault(route_label, [0] * len(LATENCY_BUCKETS))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sums[route_label] += seconds
            if code is not None:
                self.errors[code] += 1

    def add_frames(self, count: int) -> None:
        with self._lock:
            self.frames_graded += count

    def render(self, gauges: Iterable[tuple[str, str, Mapping[str, str], float]]) -> str:
        """The exposition text: the counters here, then ``gauges`` as ``(name, help, labels, value)``."""
        with self._lock:
            lines = self._counter_lines()
        for name, help_text, labels, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{_labels(labels)} {_number(value)}"]
        return "\n".join(lines) + "\n"

    def _counter_lines(self) -> list[str]:
        """Requests, latency, errors and frames (the lock is held)."""
        lines = ["# HELP neovasc_requests_total HTTP requests by method, route template and status.",
                 "# TYPE neovasc_requests_total counter"]  # fmt: skip
        for (method, route, status), count in sorted(self.requests.items()):
            labels = _labels({"method": method, "route": route, "status": status})
            lines.append(f"neovasc_requests_total{labels} {count}")
        lines += ["# HELP neovasc_request_duration_seconds Time from request start to the end of the answer.",
                  "# TYPE neovasc_request_duration_seconds histogram"]  # fmt: skip
        for route, buckets in sorted(self._buckets.items()):
            for bound, count in zip(LATENCY_BUCKETS, buckets, strict=True):
                labels = _labels({"route": route, "le": _number(bound)})
                lines.append(f"neovasc_request_duration_seconds_bucket{labels} {count}")
            lines.append(f"neovasc_request_duration_seconds_sum{_labels({'route': route})} {self._sums[route]!r}")
            lines.append(f"neovasc_request_duration_seconds_count{_labels({'route': route})} {buckets[-1]}")
        lines += ["# HELP neovasc_errors_total Error answers by problem code.", "# TYPE neovasc_errors_total counter"]
        lines += [f"neovasc_errors_total{_labels({'code': code})} {n}" for code, n in sorted(self.errors.items())]
        lines += ["# HELP neovasc_frames_graded_total Frames measured by finished analyses.",
                  "# TYPE neovasc_frames_graded_total counter",
                  f"neovasc_frames_graded_total {self.frames_graded}"]  # fmt: skip
        return lines

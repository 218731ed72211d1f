"""The service's short-lived store of rendered outputs (overlay PNG, curve PNG, overlay MP4, DICOM SR
and SC) by result id.

In memory, bounded by bytes and by age: a result expires ``NEOVASC_RESULT_TTL_S`` seconds after it was
stored, and the least recently used results are dropped first once the total passes
``NEOVASC_RESULT_STORE_MB``. Overlays show the whole screen, burned-in patient text included, so they are
kept no longer than a caller needs to fetch them. Each result belongs to the API key that made it and is
served to that key only. Ids are random (no patient data, not guessable); a restarted service remembers
nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.errors import ResultNotFound

MEDIA_TYPES = {
    "overlay.png": "image/png",
    "curve.png": "image/png",
    "overlay.mp4": "video/mp4",
    "sr.dcm": "application/dicom",
    "sc.dcm": "application/dicom",
}


@dataclass(frozen=True)
class _Entry:
    files: dict[str, bytes]
    size: int
    expires: float  # on the store's clock
    owner: str | None  # the API key's name; None when the service asks for no key


class ResultStore:
    """Files by result id. ``clock``: monotonic seconds (tests pass a fake one to expire entries)."""

    def __init__(self, max_bytes: int, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # analyses store from worker threads while requests read

    def put(self, files: dict[str, bytes], owner: str | None = None) -> str | None:
        """Keep ``files`` (name -> bytes, names from :data:`MEDIA_TYPES`) for ``owner``; their id, or None
        if they cannot fit."""
        size = sum(len(data) for data in files.values())
        if size > self.max_bytes or not files:
            return None
        key = secrets.token_hex(16)
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._items[key] = _Entry(files, size, now + self.ttl_s, owner)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.size
        return key

    def get(self, key: str, name: str, owner: str | None = None) -> bytes:
        """The file ``name`` of result ``key``; ResultNotFound when unknown, expired or another key's."""
        with self._lock:
            self._expire(self._clock())
            entry = self._items.get(key)
            if entry is None or entry.owner != owner:  # another key's result looks like no result at all
                raise ResultNotFound(
                    f"no stored result {key[:64]!r}: it never existed, expired (NEOVASC_RESULT_TTL_S), was dropped "
                    "to make room for newer ones (NEOVASC_RESULT_STORE_MB) or was made with another API key; "
                    "grade the input again with overlays=true"
                )
            self._items.move_to_end(key)
        if name not in entry.files:
            raise ResultNotFound(f"result {key!r} has no {name!r}; it has {', '.join(sorted(entry.files))}")
        return entry.files[name]

    def purge(self) -> int:
        """Drop the expired results now (the service calls this every minute); how many are left."""
        with self._lock:
            self._expire(self._clock())
            return len(self._items)

    def _expire(self, now: float) -> None:
        """Drop every entry past its expiry (the lock is held)."""
        for key in [key for key, entry in self._items.items() if entry.expires <= now]:
            self._bytes -= self._items.pop(key).size

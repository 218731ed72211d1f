"""The service's short-lived store of rendered outputs (overlay PNG, curve PNG, overlay MP4, DICOM SR
and SC) by result id.

In memory and bounded by bytes: the least recently used results are dropped first once the total passes
``NEOVASC_RESULT_STORE_MB``, so a busy service never grows without bound. Ids are random (no patient data,
not guessable); a restarted service remembers nothing.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from app.errors import ResultNotFound

MEDIA_TYPES = {
    "overlay.png": "image/png",
    "curve.png": "image/png",
    "overlay.mp4": "video/mp4",
    "sr.dcm": "application/dicom",
    "sc.dcm": "application/dicom",
}


class ResultStore:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # analyses store from worker threads while requests read

    def put(self, files: dict[str, bytes]) -> str | None:
        """Keep ``files`` (name -> bytes, names from :data:`MEDIA_TYPES`); their id, or None if they cannot fit."""
        size = sum(len(data) for data in files.values())
        if size > self.max_bytes or not files:
            return None
        key = secrets.token_hex(16)
        with self._lock:
            self._items[key] = files
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= sum(len(data) for data in dropped.values())
        return key

    def get(self, key: str, name: str) -> bytes:
        with self._lock:
            files = self._items.get(key)
            if files is None:
                raise ResultNotFound(
                    f"no stored result {key[:64]!r}: it never existed, or was dropped to make room for newer ones "
                    "(NEOVASC_RESULT_STORE_MB); grade the input again with overlays=true"
                )
            self._items.move_to_end(key)
        if name not in files:
            raise ResultNotFound(f"result {key!r} has no {name!r}; it has {', '.join(sorted(files))}")
        return files[name]

"""Output files written whole or not at all: under a temporary name beside the target, renamed onto it when
complete, so that a crash, a full disk or a stopped batch never leaves a half-written overlay, mask or report
under the name a reader looks for."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def new_file_beside(path: Path) -> Path:
    """A new empty file under a unique temporary name beside ``path``, to be renamed onto it when complete.

    Created with mode 0666 less the umask, as a plain write would be (``mkstemp``'s 0600 would survive
    the rename); ``O_EXCL`` keeps the name this writer's alone.
    """
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # another writer's name: draw again
            continue
        return temp


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (its folder made first) whole or not at all; an OSError leaves no file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = new_file_beside(path)
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise

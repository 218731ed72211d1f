"""Output files are written whole or not at all (``outputs.files.write_whole``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.pipeline.outputs import write_whole


def test_writes_the_file_with_the_umask_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "ov" / "case.png"
    old = os.umask(0o027)
    try:
        write_whole(target, b"png bytes")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"png bytes"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["case.png"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "case.png"
    target.write_bytes(b"the earlier overlay")
    real = Path.write_bytes

    def half_then_full(self, data):  # half the bytes land, then the disk is full
        real(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError):
        write_whole(target, b"a new overlay, cut short")
    monkeypatch.undo()
    assert target.read_bytes() == b"the earlier overlay"
    assert [p.name for p in tmp_path.iterdir()] == ["case.png"]

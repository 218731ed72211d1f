"""The warning catalogue: every code documented, every code raised in the code catalogued."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.warning_codes import WARNINGS, warning

ROOT = Path(__file__).resolve().parents[2]


def test_every_catalogued_code_is_documented():
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")))
    assert sorted(set(WARNINGS) - documented) == []


def test_every_code_the_code_raises_is_catalogued():
    """Warnings are made through ``warning()`` or yielded as ``(code, message)`` by the quality rules."""
    raised: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r"warning\(\s*\"([a-z_]+)\"", text))
        raised |= set(re.findall(r"yield \(?\s*\"([a-z_]+)\",", text))
    assert raised and sorted(raised - set(WARNINGS)) == []


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="is not in the catalogue"):
        warning("made_up", "x")
    assert warning("uncalibrated", "why").code == "uncalibrated"

"""Settings: each default defined once, read from NEOVASC_* variables, refused when out of range."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

import cuda_ops
from app.config import Settings
from app.pipeline.grading.scales import SCALES
from app.schemas import Grades, GradeScale


def test_defaults_come_from_their_one_definition():
    settings = Settings()
    assert settings.chroma_threshold == cuda_ops.DEFAULT_CHROMA_THRESHOLD
    assert settings.grade_scale in typing.get_args(GradeScale)


def test_the_grade_scales_are_one_list():
    """Settings, the scale descriptions and the Result's grades name the same scales."""
    names = set(typing.get_args(GradeScale))
    assert set(SCALES) == names == set(Grades.model_fields)


def test_environment_is_read(monkeypatch):
    monkeypatch.setenv("NEOVASC_CHROMA_THRESHOLD", "55")
    monkeypatch.setenv("NEOVASC_GRADE_SCALE", "colour_fraction_grade")
    settings = Settings()
    assert settings.chroma_threshold == 55 and settings.grade_scale == "colour_fraction_grade"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEOVASC_DEVICE", "gpu"),
        ("NEOVASC_CHROMA_THRESHOLD", "300"),
        ("NEOVASC_GRADE_SCALE", "vas"),
        ("NEOVASC_BACKEND", "numba"),
        ("NEOVASC_BACKEND", ""),
        ("NEOVASC_MAX_FRAME_PIXELS", str((1 << 30) + 1)),
    ],
    ids=["device", "threshold", "scale", "backend", "empty-backend", "frame-beyond-opencv"],
)
def test_bad_values_are_refused(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()

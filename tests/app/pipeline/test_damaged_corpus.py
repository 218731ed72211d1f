"""Damaged inputs: every file of a corpus built from real files gives a Result or a named error, within
5 s and bounded memory, never a crash or a hang; no message, warning or log line quotes the planted
patient identifiers.

The corpus (``tests/app/corpus.py``, ``tests/app/corpus_edits.py``) is rebuilt on every run from one
seed. The default run takes the real ultrasound files and a few package files; ``-m slow`` adds a run
over every source. A summary table of the outcomes is printed to the terminal.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import time
import traceback
import tracemalloc
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import pytest
from pydicom import examples

from app.config import Settings
from app.errors import NeovascError
from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from app.pipeline.decode import DECODERS
from app.schemas import Result
from tests.app import corpus
from tests.app.corpus import Sample
from tests.app.corpus_edits import (
    GENERAL_EDITS,
    edited,
    header_edits,
    manufacturer_overrun,
    transfer_syntax_edits,
    unknown_vrs,
)
from tests.conftest import SEED

DOCUMENTED_CODES = frozenset(
    {
        "decode_error",
        "unsupported_input",
        "unsupported_transfer_syntax",
        "not_an_image",
        "no_frames",
        "input_too_large",
        "empty_input",
        "invalid_roi",  # a damaged header can change the image size so that the ROI no longer fits
    }
)
SECONDS_PER_FILE = 5.0
PEAK_BYTES = 512 << 20
HANG_SECONDS = 30.0  # a hung input ends the whole run, printing every thread's stack
MIN_CORPUS = 200
HAS_VIDEO = any(decoder.name == "video" for decoder in DECODERS)
# One encoding of each kind gets the transfer-syntax edits: native (both byte orders, implicit VR), RLE,
# JPEG baseline, JPEG 2000, JPEG-LS.
TS_SOURCES = (
    "orthanc_Issue19",
    "barre_US-RGB-8-epicard",
    "orthanc_Implicit-vr-us-palette",
    "nemaWG04_US1_RLE",
    "orthanc_TS_1.2.840.10008.1.2.4.50",
    "examples-jpeg2k",
    "emri_small_jpeg_ls_lossless",
    "US1_UNCR",
)
# Sources that take every damage kind in the default run: quick to analyse when the damage leaves the
# image readable. The others get the damage that is refused early, and fewer pixel-data flips.
CHEAP_SOURCES = (
    "nemaWG04_US1_RLE",
    "barre_US-RGB-8-epicard",
    "orthanc_Implicit-vr-us-palette",
    "emri_small_jpeg_ls_lossless",
)
# pydicom-data files used whole: JPEG lossless (no decoder installed by default) and a cut JPEG 2000 file.
PACKAGE_ONLY = {
    "JPEG-LL.dcm": frozenset({"unsupported_transfer_syntax"}),
    "JPGLosslessP14SV1_1s_1f_8b.dcm": frozenset({"unsupported_transfer_syntax"}),
    "emri_small_jpeg_2k_lossless_too_short.dcm": frozenset({"decode_error"}),
}


def build_corpus(full: bool = False) -> list[Sample]:
    rng = np.random.default_rng(SEED)
    samples = corpus.not_media(rng) + corpus.still_images(rng) + corpus.non_image_dicoms()
    for index, (label, path) in enumerate(corpus.source_paths(full).items()):
        data = corpus.planted_copy(path)
        where = corpus.layout(data)
        samples.append(Sample(f"{label}/whole", data))
        samples += corpus.truncations(label, data, where, preamble=index < 2)
        cheap = full or label in CHEAP_SOURCES
        samples += corpus.flips(label, data, where, rng, many=cheap)
        samples += header_edits(label, data, readable=cheap)
        samples += manufacturer_overrun(label, data)
        if label in TS_SOURCES:
            samples += transfer_syntax_edits(label, data)
            samples += unknown_vrs(label, data)
    for name, expect in PACKAGE_ONLY.items():
        path = corpus.package_file(name)
        if path is not None:
            samples.append(Sample(f"{name.removesuffix('.dcm')}/whole", corpus.planted_copy(path), expect=expect))
    if HAS_VIDEO:
        samples += corpus.videos(rng)
    return samples


@dataclass(frozen=True)
class Outcome:
    name: str
    code: str  # "ok", an error code, or "crash: <exception type>"
    seconds: float
    peak_bytes: int
    text: str  # the error message, or the Result as JSON
    said: str  # the warnings and log lines emitted meanwhile


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def run_one(sample: Sample, settings: Settings, hang_report: TextIO) -> Outcome:
    """Analyse one sample under a hang guard; measure its wall time and traced memory peak; keep what it said.

    Needs tracemalloc started. Logging is taken at DEBUG from the root logger for the call. A call that
    hangs for :data:`HANG_SECONDS` ends the process, with every thread's stack written to ``hang_report``.
    """
    root, lines = logging.getLogger(), _Lines()
    level = root.level
    root.addHandler(lines)
    root.setLevel(logging.DEBUG)
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=hang_report)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = analyze(sample.data, AnalyzeOptions(roi=RoiSpec.from_text(sample.roi)), settings=settings)
        code, text = ("ok" if result.ok else "not ok"), result.to_json()
    except NeovascError as exc:
        code, text = exc.code, exc.message
    except Exception as exc:  # a crash: recorded, and reported by the test
        code, text = f"crash: {type(exc).__name__}", traceback.format_exc()
    finally:
        faulthandler.cancel_dump_traceback_later()
        root.removeHandler(lines)
        root.setLevel(level)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - baseline
    said = "\n".join([*lines.lines, *(str(w.message) for w in caught)])
    return Outcome(sample.name, code, seconds, peak, text, said)


def problems_of(sample: Sample, outcome: Outcome) -> list[str]:
    problems = []
    if outcome.code != "ok" and outcome.code not in DOCUMENTED_CODES:
        problems.append(f"gave {outcome.code}: {outcome.text[-600:]}")
    elif sample.expect is not None and outcome.code not in sample.expect:
        problems.append(f"gave {outcome.code}, expected one of {sorted(sample.expect)}: {outcome.text[:200]}")
    if outcome.code == "ok":
        try:
            Result.model_validate_json(outcome.text)  # the JSON a client reads must meet its own schema
        except ValueError as exc:
            problems.append(f"gave a Result whose JSON does not validate: {str(exc)[:300]}")
    if outcome.seconds > SECONDS_PER_FILE:
        problems.append(f"took {outcome.seconds:.1f} s")
    if outcome.peak_bytes > PEAK_BYTES:
        problems.append(f"peaked at {outcome.peak_bytes / 2**20:.0f} MiB")
    for where, text in (("output", outcome.text), ("warnings or logs", outcome.said)):
        leaks = corpus.find_leaks(text)
        if leaks:
            problems.append(f"{where} quote planted identifiers {leaks}: {text[:300]}")
    return [f"{sample.name}: {problem}" for problem in problems]


def summary_table(outcomes: list[Outcome], wall: float) -> str:
    counts = Counter(o.code for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    largest = max(outcomes, key=lambda o: o.peak_bytes)
    lines = [f"damaged corpus: {len(outcomes)} files in {wall:.1f} s", f"  {'outcome':<30} files"]
    lines += [f"  {code:<30} {n:>5}" for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    lines.append(f"  slowest: {slowest.seconds:.2f} s ({slowest.name})")
    lines.append(f"  largest traced peak: {largest.peak_bytes / 2**20:.1f} MiB ({largest.name})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def damaged_corpus() -> list[Sample]:
    return build_corpus()


def test_corpus_is_large_and_reproducible(damaged_corpus):
    assert len(damaged_corpus) >= MIN_CORPUS
    assert len({s.name for s in damaged_corpus}) == len(damaged_corpus)
    again = build_corpus()
    assert [(s.name, s.data) for s in again] == [(s.name, s.data) for s in damaged_corpus]


@pytest.mark.slow  # the bounded corpus runs in every test run (~15 s); the full one with -m slow only
@pytest.mark.parametrize("size", ["default", "full"])
def test_every_damaged_file_gives_a_result_or_a_named_error(size, damaged_corpus, settings, capsys, request):
    if size == "full" and "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("the corpus over every source runs with -m slow")
    samples = damaged_corpus if size == "default" else build_corpus(full=True)
    options = AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI))
    analyze(corpus.planted_copy(examples.get_path("jpeg2k")), options, settings=settings)  # compile kernels first
    outcomes, problems = [], []
    with capsys.disabled():  # the terminal's stderr, so that a hang's stacks are seen though output is captured
        terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        for sample in samples:
            outcome = run_one(sample, settings, terminal)
            outcomes.append(outcome)
            problems += problems_of(sample, outcome)
    finally:
        tracemalloc.stop()
        terminal.close()
    with capsys.disabled():
        print("\n" + summary_table(outcomes, time.perf_counter() - start))
    assert not problems, f"{len(problems)} of {len(outcomes)} files misbehaved:\n" + "\n".join(problems)


# --- each named error, on one input that must give it -------------------------------------------------


def _jpeg2k() -> bytes:
    return corpus.planted_copy(examples.get_path("jpeg2k"))


def _edit(name: str) -> bytes:
    """The pydicom example (JPEG 2000, 480x640) with one of the general header edits."""
    edit = next(e for e in GENERAL_EDITS if e[0] == name)
    return next(edited("jpeg2k", _jpeg2k(), [edit])).data


def _cut_before_image_module() -> bytes:
    """Cut at Photometric Interpretation (0028,0004): the storage class is read, Rows and the pixels are not."""
    data = _jpeg2k()
    return data[: data.find(b"\x28\x00\x04\x00", corpus.layout(data).meta_end)]


def _non_image(label: str) -> bytes:
    return next(s.data for s in corpus.non_image_dicoms() if s.name == f"{label}/whole")


def _rgb_as(uid: str) -> bytes:
    return corpus.with_transfer_syntax(corpus.planted_copy(examples.get_path("rgb_color")), uid)


NAMED_ERRORS = [
    ("empty", lambda: b"", "empty_input", "empty"),
    ("random-bytes", lambda: np.random.default_rng(SEED).bytes(3000), "unsupported_input", "readers tried"),
    ("text", lambda: b"tendon report\n" * 50, "unsupported_input", "unrecognised format"),
    ("truncated-dicom", lambda: _jpeg2k()[: len(_jpeg2k()) * 3 // 5], "decode_error", "DICOM"),
    ("truncated-header", _cut_before_image_module, "decode_error", "pixel data is missing"),
    ("truncated-png", lambda: corpus.still_images(np.random.default_rng(SEED))[0].data[:300], "decode_error", "PNG"),
    ("zero-frames", lambda: _edit("frames-0"), "no_frames", "0 frames"),
    ("jpeg-lossless", lambda: _rgb_as("1.2.840.10008.1.2.4.70"), "unsupported_transfer_syntax", "pylibjpeg-libjpeg"),
    ("mpeg4-in-dicom", lambda: _rgb_as("1.2.840.10008.1.2.4.102"), "unsupported_transfer_syntax", "MP4"),
    ("basic-text-sr", lambda: _non_image("basic-text-sr"), "not_an_image", "Basic Text SR Storage"),
    ("rt-structure-set", lambda: _non_image("rt-structure-set"), "not_an_image", "RT Structure Set Storage"),
    ("1e9-frames", lambda: _edit("frames-1e9"), "input_too_large", "NEOVASC_MAX_FRAMES"),
    ("65535x65535", lambda: _edit("rows-cols-65535"), "input_too_large", "NEOVASC_MAX_FRAME_PIXELS"),
]


@pytest.mark.parametrize(("make", "code", "says"), [n[1:] for n in NAMED_ERRORS], ids=[n[0] for n in NAMED_ERRORS])
def test_named_error(make, code, says, settings):
    data = make()
    tracemalloc.start()
    try:
        with pytest.raises(NeovascError) as raised:
            analyze(data, AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI)), settings=settings, name="upload.bin")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.code == code
    assert says in raised.value.message
    assert not corpus.find_leaks(raised.value.message)
    assert peak < 64 << 20  # refused from the header: the frames it declares are never allocated


@pytest.mark.skipif(corpus.package_file("JPEG-LL.dcm") is None, reason="pydicom-data is not installed")
def test_jpeg_lossless_file_names_the_plugin(settings):
    with pytest.raises(NeovascError) as raised:
        analyze(
            corpus.package_file("JPEG-LL.dcm"), AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI)), settings=settings
        )
    assert raised.value.code == "unsupported_transfer_syntax"
    assert "pylibjpeg-libjpeg" in raised.value.message and "gdcm" in raised.value.message


@pytest.mark.skipif(not HAS_VIDEO, reason="no video decoder registered")
def test_video_without_frames(settings):
    data = corpus.video_bytes(np.random.default_rng(SEED), "avi", "mjpeg", frames=0)
    with pytest.raises(NeovascError) as raised:
        analyze(data, AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI)), settings=settings)
    assert raised.value.code == "no_frames"


def test_unreadable_bits_allocated_is_read_as_the_default(settings):
    """A garbage VR makes BitsAllocated unreadable: taken as 8 bits, as the header checks took it."""
    data = corpus.planted_copy(examples.get_path("rgb_color"))  # native RGB, explicit VR little endian
    damaged = next(s for s in unknown_vrs("rgb", data) if s.name.endswith("bits-allocated")).data
    result = analyze(damaged, AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI)), settings=settings)
    assert result.ok and result.source.bit_depth == 8


def test_infinite_or_overflowing_region_size_is_no_calibration(settings):
    """PhysicalDelta of 1e308 cm (x 10 overflows to mm) or infinity: uncalibrated, not an infinite scale."""
    for name in ("regions-overflow", "regions-infinite"):
        edit = next(e for e in GENERAL_EDITS if e[0] == name)
        data = next(edited("jpeg2k", _jpeg2k(), [edit])).data
        result = analyze(data, AnalyzeOptions(roi=RoiSpec.from_text(corpus.ROI)), settings=settings)
        assert result.calibration is None and "uncalibrated" in {w.code for w in result.warnings}, name

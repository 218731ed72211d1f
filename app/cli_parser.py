"""The ``neovasc`` command line's arguments: every command, its options and how each is checked.

``app.cli`` reads them and runs the command. A usage error is printed as argparse prints it and as a JSON
error line (``usage_error``), and exits with ``EXIT_USAGE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from app import __version__
from app.batch import DEFAULT_TIMEOUT_S
from app.config import PORTS, WORKERS
from app.errors import NeovascError, error_json
from app.pipeline import RoiSpec
from cuda_ops import BACKEND_NAMES, known_backend

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that also prints a JSON error line, so scripts can read usage errors too."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        usage_exit("usage_error", message)


def usage_exit(code: str, message: str) -> NoReturn:
    """A usage error with its code (``usage_error``, or its own, e.g. ``invalid_manifest``): one JSON line on
    stderr, exit code 2."""
    print(error_json(code, message), file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def command_error(command: str, message: str) -> NoReturn:
    """A usage error of ``neovasc COMMAND`` found after parsing: that command's usage line (not the top-level
    one), then the JSON error line (``usage_error``); exit code 2."""
    _build()[1][command].error(message)


def _roi_text(text: str) -> RoiSpec:
    try:
        return RoiSpec.from_text(text)
    except NeovascError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and, by name, each command's own parser (whose usage line names the command)."""
    parser = _Parser(prog="neovasc", description="Tendon neovascularity grading from Doppler ultrasound.")
    parser.add_argument("--version", action="version", version=f"neovasc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    grade = commands.add_parser("grade", help="grade images, DICOM files and clips; one JSON line per input on stdout")
    grade.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or directories (or --manifest)")
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--roi", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI in pixels")
    where.add_argument("--roi-mask", type=Path, metavar="MASK.png", help="mask image: non-zero = ROI")
    grade.add_argument(
        "--roi-hint", type=_given, metavar="x0,y0,x1,y1",
        help="without --roi: a rough box around the tendon for the model",
    )  # fmt: skip
    grade.add_argument(
        "--tendon-point", type=_given, action="append", metavar="x,y",
        help="without --roi: a point on the tendon (repeatable)",
    )  # fmt: skip
    grade.add_argument("--masks", type=Path, metavar="DIR", help="write DIR/<stem>.png ROI/tendon masks")
    grade.add_argument(
        "--overlays", type=Path, metavar="DIR",
        help="write DIR/<stem>.png (selected frame) and, for clips, DIR/<stem>.curve.png and DIR/<stem>.mp4",
    )  # fmt: skip
    grade.add_argument(
        "--dicom-out", type=Path, metavar="DIR",
        help="DICOM inputs: write DIR/<stem>.sr.dcm (TID 1500 report) and DIR/<stem>.sc.dcm (overlay) for PACS",
    )  # fmt: skip
    grade.add_argument("--out", type=Path, metavar="FILE", help="write FILE.jsonl or FILE.csv instead of stdout")
    grade.add_argument(
        "--resume", action="store_true", help="with --out: append, skipping inputs already graded with these settings"
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar on a terminal")
    _add_batch_options(grade)
    _add_run_options(grade)

    compare = commands.add_parser("compare", help="compare two studies (before / after); one JSON object on stdout")
    compare.add_argument("before", type=Path, nargs="?", metavar="BEFORE", help="the earlier study (a file)")
    compare.add_argument("after", type=Path, nargs="?", metavar="AFTER", help="the later study (a file)")
    compare.add_argument("--roi-before", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI on BEFORE")
    compare.add_argument("--roi-after", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI on AFTER")
    _add_batch_options(compare)
    _add_run_options(compare)

    serve = commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    serve.add_argument("--host", type=_given, default=None, help="default: NEOVASC_HOST or 127.0.0.1")
    serve.add_argument("--port", type=_port, default=None, help="1-65535; default: NEOVASC_PORT or 8000")
    serve.add_argument(
        "--workers", type=_workers, default=None, metavar="N",
        help="analyses at once, threads sharing one model (1-64); default: NEOVASC_WORKERS or 1",
    )  # fmt: skip

    keys = commands.add_parser(
        "keys", help="API keys of the HTTP service: add NAME (prints it once), list, remove NAME"
    )
    keys.add_argument("action", choices=("add", "list", "remove"))
    keys.add_argument("name", nargs="?", help="the key's name, e.g. ris-gateway (add, remove)")
    keys.add_argument("--file", type=Path, metavar="PATH", help="keys file; default: NEOVASC_API_KEYS_FILE")

    schema = commands.add_parser("schema", help="print the Result (or Comparison) JSON Schema")
    schema.add_argument("--comparison", action="store_true", help="the Comparison of `neovasc compare` instead")

    bench = commands.add_parser("bench", help="benchmarks: 'neovasc bench count --help'")
    bench.add_argument("what", choices=("count",), help="count: the Doppler counting backends (cuda_ops)")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="passed on, e.g. --json --quick")

    # Listed here for --help; main() hands everything after "train" to models.training.train unparsed.
    commands.add_parser("train", help="train the tendon model: 'neovasc train --help'", add_help=False)
    return parser, commands.choices


def _checked(convert: Callable[[str], float], text: str, ok: Callable[[float], bool], expected: str) -> Any:
    """``convert(text)`` when it parses and passes ``ok``, else an argparse error saying what was expected."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive(text: str) -> int:
    return _checked(int, text, lambda value: value >= 1, "a whole number >= 1")


def _seconds(text: str) -> float:
    return _checked(float, text, lambda value: value > 0, "a number of seconds > 0")


def _port(text: str) -> int:
    return _checked(int, text, lambda value: PORTS[0] <= value <= PORTS[1], "a port number {}-{}".format(*PORTS))


def _workers(text: str) -> int:
    return _checked(int, text, lambda value: WORKERS[0] <= value <= WORKERS[1], "a whole number {}-{}".format(*WORKERS))


def _given(text: str) -> str:
    """A value that is not empty: an empty one would otherwise fall back to the default unnoticed."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a value, got {text!r}")
    return text


def _backend(text: str) -> str:
    try:
        return known_backend(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_batch_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--manifest", type=Path, metavar="FILE",
        help="FILE.csv or FILE.jsonl: rows of path and optional roi, study, patient_key, timepoint",
    )  # fmt: skip
    command.add_argument(
        "--jobs", type=_positive, default=None, metavar="N",
        help="grade N inputs at once (workers; default 1, with --ray one per GPU, or per CPU, of the cluster)",
    )  # fmt: skip
    command.add_argument(
        "--timeout", type=_seconds, default=None, metavar="SECONDS",
        help=f"per input, in worker processes or on Ray (default with --jobs > 1 or --ray: {DEFAULT_TIMEOUT_S:g})",
    )  # fmt: skip
    command.add_argument(
        "--ray", metavar="auto|ADDRESS", default=None,
        help="grade with Ray Data: auto (a local Ray) or a cluster's host:6379 or ray://host:10001 (neovasc[ray])",
    )  # fmt: skip
    command.add_argument("--summary", type=Path, metavar="FILE.csv", help="write a per-study summary table")


def _add_run_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: NEOVASC_DEVICE")
    command.add_argument(
        "--backend", type=_backend, default=None, metavar="BACKEND",
        help=f"counting backend: {', '.join(BACKEND_NAMES)}; default: NEOVASC_BACKEND (auto)",
    )  # fmt: skip
    command.add_argument("--every", type=_positive, default=1, metavar="N", help="measure every N-th frame of a clip")
    command.add_argument(
        "--max-frames", type=_positive, default=None, metavar="M", help="measure at most M evenly spaced frames"
    )

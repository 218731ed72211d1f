"""The ``neovasc`` command line: ``grade`` a batch of inputs, ``serve`` the HTTP API, print the ``schema``.

Thin by design: it parses arguments and calls the same ``analyze`` as the HTTP API. A failed input
is reported as an ``ok: false`` line and skipped; the exit code is 1 when any input failed and 2 for
usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NoReturn, TextIO

from app import __version__
from app.config import Settings, get_settings
from app.errors import NeovascError, NoTendonModel, as_neovasc_error
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.report import csv_text, failure_result, render_overlay, write_mask_png, write_overlay_png
from app.pipeline.run import Segmenter, limits_from
from app.schemas import Result
from app.segmenter import load_tendon_model

log = logging.getLogger("neovasc")

# Files picked up when a directory is given; explicit file paths are always tried.
KNOWN_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that also prints a JSON error line, so scripts can read usage errors too."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(json.dumps({"ok": False, "error": {"code": "usage_error", "message": message}}), file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _roi_text(text: str) -> RoiSpec:
    try:
        return RoiSpec.from_text(text)
    except NeovascError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neovasc", description="Tendon neovascularity grading from Doppler ultrasound.")
    parser.add_argument("--version", action="version", version=f"neovasc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    grade = commands.add_parser("grade", help="grade images; one JSON line per input on stdout")
    grade.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or directories")
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--roi", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI in pixels")
    where.add_argument("--roi-mask", type=Path, metavar="MASK.png", help="mask image: non-zero = ROI")
    grade.add_argument("--masks", type=Path, metavar="DIR", help="write DIR/<stem>.png ROI/tendon masks")
    grade.add_argument("--overlays", type=Path, metavar="DIR", help="write DIR/<stem>.png overlay images")
    grade.add_argument("--out", type=Path, metavar="FILE", help="write FILE.jsonl or FILE.csv instead of stdout")
    grade.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: NEOVASC_DEVICE")
    grade.add_argument("--backend", default=None, help="counting backend (default: auto)")

    serve = commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    serve.add_argument("--host", default=None, help="default: NEOVASC_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: NEOVASC_PORT or 8000")

    commands.add_parser("schema", help="print the Result JSON Schema")
    return parser


def _expand(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in KNOWN_SUFFIXES)
        else:
            yield path


def _unique_png(directory: Path, stem: str, used: set[str]) -> Path:
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return directory / name


def _grade_one(path: Path, options: AnalyzeOptions, settings: Settings, args, used: set[str]) -> Result:
    try:
        analysis = run_analysis(path, options, _segmenter(settings) if options.roi is None else None, settings)
    except Exception as exc:  # every input gets a line; the batch goes on
        error = as_neovasc_error(exc)
        if not isinstance(exc, NeovascError):
            log.error("unexpected %s on one input", type(exc).__name__, exc_info=exc)
        return failure_result(path.name, error)
    if args.masks is not None:
        write_mask_png(_unique_png(args.masks, path.stem, used), analysis.roi_mask)
    if args.overlays is not None:
        overlay = render_overlay(analysis.frame, analysis.roi_mask, analysis.doppler_mask, analysis.grading)
        write_overlay_png(args.overlays / f"{path.stem}.png", overlay)
    return analysis.result


@lru_cache(maxsize=4)
def _segmenter(settings: Settings) -> Segmenter:
    """The tendon model, loaded once per process and only when an input has no user ROI."""
    model = load_tendon_model(settings)
    if model is None:
        raise NoTendonModel(
            f"no tendon model is installed in {settings.weights_dir.name}/ and no region of interest was given; "
            "pass --roi x0,y0,x1,y1 or --roi-mask MASK.png"
        )
    return model


def _cmd_grade(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    out_kind = None
    if args.out is not None:
        out_kind = args.out.suffix.lower()
        if out_kind not in (".jsonl", ".csv"):
            build_parser().error(f"--out must end in .jsonl or .csv, got {args.out.name!r}")
    roi = args.roi
    if args.roi_mask is not None:
        try:
            roi = RoiSpec.from_mask_image(args.roi_mask, limits_from(settings))
        except NeovascError as exc:
            build_parser().error(f"--roi-mask: {exc.message}")
    options = AnalyzeOptions(roi=roi, device=args.device or settings.device, backend=args.backend or settings.backend)
    used: set[str] = set()
    sink = args.out.open("w", encoding="utf-8") if args.out is not None else stdout
    failed = total = 0
    try:
        for path in _expand(args.paths):
            result = _grade_one(path, options, settings, args, used)
            total += 1
            failed += not result.ok
            if out_kind == ".csv":
                sink.write(csv_text([result], header=total == 1))
            else:
                sink.write(result.to_json() + "\n")
            sink.flush()
    finally:
        if sink is not stdout:
            sink.close()
    if total == 0:
        build_parser().error("no input files found under the given paths")
    log.info("graded %d input(s): %d ok, %d failed", total, total - failed, failed)
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command == "grade":
        return _cmd_grade(args, settings, stdout or sys.stdout)
    if args.command == "serve":
        return _cmd_serve(args, settings)
    print(json.dumps(Result.model_json_schema(by_alias=True), indent=2), file=stdout or sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

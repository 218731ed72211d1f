"""The ``neovasc`` command line: ``grade`` a batch of inputs, ``serve`` the HTTP API, print the ``schema``,
``train`` the tendon model (delegated to ``models.training.train``).

Thin by design: it parses arguments and calls the same ``analyze`` as the HTTP API. A failed input
is reported as an ``ok: false`` line and skipped; the exit code is 1 when any input failed and 2 for
usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from pydantic import ValidationError

from app import __version__
from app.config import Settings, get_settings
from app.errors import NeovascError, OutputError, as_neovasc_error, error_line
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.outputs import CURVE, MASK, OVERLAY, SC, SR, OutputRequest, VideoRecorder, csv_text, render
from app.pipeline.report import failure_result
from app.pipeline.roi import parse_hint
from app.pipeline.run import limits_from
from app.pipeline.tendon import Hint
from app.schemas import Result

log = logging.getLogger("neovasc")

# Files picked up when a directory is given (plus suffix-less DICOM files, as PACS exports name them);
# explicit file paths are always tried.
KNOWN_SUFFIXES = {
    ".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm",
}  # fmt: skip
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2
TRAINING_ABSENT = (
    "this installation has no training code (the service image leaves models/training out); train in a source "
    "checkout (`pip install -e .`, then `neovasc train --help`) and point NEOVASC_WEIGHTS_DIR at the weights it writes"
)


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
    grade.add_argument(
        "--roi-hint", metavar="x0,y0,x1,y1", help="without --roi: a rough box around the tendon for the model"
    )
    grade.add_argument(
        "--tendon-point", action="append", metavar="x,y", help="without --roi: a point on the tendon (repeatable)"
    )
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
    _add_run_options(grade)

    compare = commands.add_parser("compare", help="compare two studies (before / after); one JSON object on stdout")
    compare.add_argument("before", type=Path, metavar="BEFORE", help="the earlier study (a file)")
    compare.add_argument("after", type=Path, metavar="AFTER", help="the later study (a file)")
    compare.add_argument("--roi-before", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI on BEFORE")
    compare.add_argument("--roi-after", type=_roi_text, metavar="x0,y0,x1,y1", help="rectangle ROI on AFTER")
    _add_run_options(compare)

    serve = commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    serve.add_argument("--host", default=None, help="default: NEOVASC_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: NEOVASC_PORT or 8000")

    schema = commands.add_parser("schema", help="print the Result (or Comparison) JSON Schema")
    schema.add_argument("--comparison", action="store_true", help="the Comparison of `neovasc compare` instead")

    bench = commands.add_parser("bench", help="benchmarks: 'neovasc bench count --help'")
    bench.add_argument("what", choices=("count",), help="count: the Doppler counting backends (cuda_ops)")
    bench.add_argument("options", nargs=argparse.REMAINDER, help="passed on, e.g. --json --quick")

    # Listed here for --help; main() hands everything after "train" to models.training.train unparsed.
    commands.add_parser("train", help="train the tendon model: 'neovasc train --help'", add_help=False)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _add_run_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: NEOVASC_DEVICE")
    command.add_argument("--backend", default=None, help="counting backend (default: auto)")
    command.add_argument("--every", type=_positive, default=1, metavar="N", help="measure every N-th frame of a clip")
    command.add_argument(
        "--max-frames", type=_positive, default=None, metavar="M", help="measure at most M evenly spaced frames"
    )


def _options(args: argparse.Namespace, roi: RoiSpec | None, hint: Hint | None = None) -> AnalyzeOptions:
    """Per-call options; a device or backend not given falls to NEOVASC_DEVICE / NEOVASC_BACKEND in analyze."""
    return AnalyzeOptions(
        roi=roi, hint=hint, device=args.device, backend=args.backend, every=args.every, max_frames=args.max_frames
    )


def _expand(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _gradable(p))
        else:
            yield path


def _gradable(path: Path) -> bool:
    if path.suffix.lower() in KNOWN_SUFFIXES:
        return True
    if path.suffix or path.name.upper() == "DICOMDIR":
        return False
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... when an earlier input of the batch had the same name."""
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name


def _grade_one(path: Path, options: AnalyzeOptions, settings: Settings, args, used: set[str]) -> Result:
    stem = _unique_stem(path.stem, used)
    request = OutputRequest(
        masks=args.masks is not None, overlays=args.overlays is not None, dicom=args.dicom_out is not None
    )
    video = None
    if args.overlays is not None:
        args.overlays.mkdir(parents=True, exist_ok=True)
        video = VideoRecorder(args.overlays / f"{stem}.mp4")  # streamed to disk while the clip is graded
    try:
        with video or contextlib.nullcontext():
            analysis = run_analysis(path, options, None, settings, observer=video)
        rendered = render(analysis, request)
    except Exception as exc:  # every input gets a line; the batch goes on
        error = as_neovasc_error(exc)
        if not isinstance(exc, NeovascError):
            log.error("unexpected %s on one input", type(exc).__name__, exc_info=exc)
        return failure_result(path.name, error)
    result = analysis.result
    result.warnings.extend(rendered.warnings)
    try:
        for name, data in rendered.files.items():
            target = _output_path(name, stem, args)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except OSError as exc:  # a full disk or a read-only folder: this input failed, the batch goes on
        why = exc.strerror or type(exc).__name__
        return failure_result(
            path.name, OutputError(f"an output file (--masks, --overlays, --dicom-out) could not be written: {why}")
        )
    return result


def _output_path(name: str, stem: str, args: argparse.Namespace) -> Path:
    """Where the command line puts each rendered output of input ``stem``."""
    return {
        MASK: lambda: args.masks / f"{stem}.png",
        OVERLAY: lambda: args.overlays / f"{stem}.png",
        CURVE: lambda: args.overlays / f"{stem}.curve.png",
        SR: lambda: args.dicom_out / f"{stem}.sr.dcm",
        SC: lambda: args.dicom_out / f"{stem}.sc.dcm",
    }[name]()


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
    try:
        hint = parse_hint(args.roi_hint, args.tendon_point)
    except NeovascError as exc:
        build_parser().error(exc.message)
    if hint is not None and roi is not None:
        build_parser().error("--roi-hint and --tendon-point guide the tendon model: leave out --roi / --roi-mask")
    options = _options(args, roi, hint)
    inputs = list(_expand(args.paths))
    if not inputs:
        build_parser().error("no input files found under the given paths")
    used: set[str] = set()
    try:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        sink = args.out.open("w", encoding="utf-8") if args.out is not None else stdout
    except OSError as exc:
        build_parser().error(f"--out {args.out.name!r} cannot be written: {exc.strerror}")
    failed = total = 0
    try:
        for path in inputs:
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
    log.info("graded %d input(s): %d ok, %d failed", total, total - failed, failed)
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _cmd_compare(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    from app.compare import compare_paths

    for path in (args.before, args.after):
        if path.is_dir():
            build_parser().error(f"compare takes two files, {path.name!r} is a directory")
    try:
        before, after = _options(args, args.roi_before), _options(args, args.roi_after)
        comparison = compare_paths(args.before, args.after, before, after, settings)
    except NeovascError as exc:  # the message names the side that failed
        stdout.write(json.dumps({"ok": False, "error": error_line(exc)}) + "\n")
        return EXIT_INPUT_FAILED
    stdout.write(comparison.to_json() + "\n")
    return EXIT_OK


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


def _cmd_bench(args: argparse.Namespace) -> int:
    from cuda_ops.bench import main as bench_count

    return bench_count(args.options)


def _cmd_train(argv: list[str]) -> int:
    try:
        from models.training.train import main as train_main  # torch-heavy import, only for training
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("models.training"):
            raise  # a missing dependency names itself
        print(json.dumps({"ok": False, "error": {"code": "usage_error", "message": TRAINING_ABSENT}}), file=sys.stderr)
        return EXIT_USAGE
    return train_main(argv)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:  # a bad NEOVASC_* variable: a usage error, not a traceback
        problems = "; ".join(f"NEOVASC_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        build_parser().error(f"invalid environment setting: {problems}")


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return _cmd_train(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return _cmd_bench(args)
    settings = _settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command == "grade":
        return _cmd_grade(args, settings, stdout or sys.stdout)
    if args.command == "compare":
        return _cmd_compare(args, settings, stdout or sys.stdout)
    if args.command == "serve":
        return _cmd_serve(args, settings)
    if args.comparison:
        from app.compare import Comparison

        model = Comparison
    else:
        model = Result
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2), file=stdout or sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

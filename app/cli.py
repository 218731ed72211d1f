"""The ``neovasc`` command line: ``grade`` a batch of inputs, ``serve`` the HTTP API, print the ``schema``,
``train`` the tendon model (delegated to ``models.training.train``).

Thin by design: it reads the arguments that ``app.cli_parser`` defines and hands batches to ``app.batch``,
which grades with the same pipeline as the HTTP API (in this process, or in worker processes with
``--jobs``). A failed input is reported as an ``ok: false`` line and skipped; the exit code is 1 when any
input failed, 2 for usage errors and 130 when a batch is stopped by Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from app.batch import (
    BatchConfig,
    BatchInput,
    Destination,
    OutputDirs,
    Parallel,
    compare_pairs,
    from_manifest,
    from_paths,
    grade_batch,
    pairs,
    ray_runner,
    read_manifest,
    record,
    write_summary,
)
from app.cli_parser import EXIT_USAGE as EXIT_USAGE  # re-exported: the exit codes of the command line
from app.cli_parser import build_parser, command_error, usage_exit
from app.config import Settings, get_settings
from app.errors import InvalidManifest, NeovascError, UsageError, error_json
from app.logs import configure_logging
from app.pipeline import AnalyzeOptions, RoiSpec
from app.pipeline.roi import parse_hint
from app.pipeline.run import limits_from
from app.pipeline.tendon import Hint
from app.schemas import Result

log = logging.getLogger("neovasc")

EXIT_OK, EXIT_INPUT_FAILED = 0, 1
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the shell's 128 + SIGINT
TRAINING_ABSENT = (
    "this installation has no training code (the service image leaves models/training out); train in a source "
    "checkout (`pip install -e .`, then `neovasc train --help`) and point NEOVASC_WEIGHTS_DIR at the weights it writes"
)


def _options(args: argparse.Namespace, roi: RoiSpec | None, hint: Hint | None = None) -> AnalyzeOptions:
    """Per-call options; a device or backend not given falls to NEOVASC_DEVICE / NEOVASC_BACKEND in analyze."""
    return AnalyzeOptions(
        roi=roi, hint=hint, device=args.device, backend=args.backend, every=args.every, max_frames=args.max_frames
    )


def _check_files(args: argparse.Namespace) -> None:
    """The suffixes and combinations of --out, --resume, --summary, PATH and --manifest."""
    if args.out is not None and args.out.suffix.lower() not in (".jsonl", ".csv"):
        command_error("grade", f"--out must end in .jsonl or .csv, got {args.out.name!r}")
    if args.resume and args.out is None:
        command_error("grade", "--resume needs --out FILE.jsonl or FILE.csv: it skips the inputs already in that file")
    _check_summary(args)
    _check_folders("grade", ("--out", args.out), ("--summary", args.summary))
    if bool(args.paths) == (args.manifest is not None):
        command_error("grade", "give the inputs as PATH ... or as --manifest FILE, one of the two")


def _check_summary(args: argparse.Namespace) -> None:
    if args.summary is not None and args.summary.suffix.lower() != ".csv":
        command_error(args.command, f"--summary must end in .csv, got {args.summary.name!r}")


def _check_folders(command: str, *files: tuple[str, Path | None]) -> None:
    """Missing folders of an output file are made when it is written; a file where a folder must be is a usage
    error now, before any input is graded (the OS would say only "File exists" or "Not a directory")."""
    for option, path in files:
        if path is not None and _under_a_file(path):
            command_error(command, f"{option} cannot be written: a path component of it is a file, not a folder")


def _under_a_file(path: Path) -> bool:
    """Whether a folder on the way to ``path`` is a file; one that cannot be looked at is left to the writing."""
    for folder in reversed(path.parents):  # from the root down: the first one that is no folder decides
        try:
            if not folder.is_dir():
                return folder.exists()
        except OSError:  # e.g. no permission to look inside its parent
            return False
    return False


def _grade_options(args: argparse.Namespace, settings: Settings) -> AnalyzeOptions:
    """The region, hint and run options of ``grade``; usage errors exit with 2."""
    roi = args.roi
    if args.roi_mask is not None:
        try:
            roi = RoiSpec.from_mask_image(args.roi_mask, limits_from(settings))
        except NeovascError as exc:
            command_error("grade", f"--roi-mask: {exc.message}")
    try:
        hint = parse_hint(args.roi_hint, args.tendon_point)
    except NeovascError as exc:
        command_error("grade", exc.message)
    if hint is not None and roi is not None:
        command_error("grade", "--roi-hint and --tendon-point guide the tendon model: leave out --roi / --roi-mask")
    return _options(args, roi, hint)


def _inputs(args: argparse.Namespace) -> list[BatchInput]:
    if args.manifest is None:
        inputs = from_paths(args.paths)
    else:
        try:
            inputs = from_manifest(read_manifest(args.manifest))
        except InvalidManifest as exc:
            usage_exit(exc.code, exc.message)
    if not inputs:
        command_error(args.command, "no input files found under the given paths")
    return inputs


def _parallel(args: argparse.Namespace, options: AnalyzeOptions, all_drawn: bool) -> Parallel:
    """Workers and the time limit; each worker loads the tendon model at start unless every row has a region.

    With ``--ray`` the cluster is reached here, before ``--out`` is opened, so that a missing extra or an
    unreachable cluster is one usage error line and leaves every file as it was.
    """
    needs_model = options.roi is None and not all_drawn
    device = (options.device or "auto") if needs_model else None
    if args.ray is None:
        return Parallel(jobs=args.jobs or 1, timeout=args.timeout, model_device=device)
    try:
        ray_runner().connect(args.ray)
    except NeovascError as exc:  # ray_not_installed, ray_unavailable
        usage_exit(exc.code, exc.message)
    return Parallel(jobs=args.jobs, timeout=args.timeout, model_device=device, ray=args.ray)


def _cmd_grade(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    _check_files(args)
    options = _grade_options(args, settings)
    inputs = _inputs(args)
    config = BatchConfig(settings, OutputDirs(args.masks, args.overlays, args.dicom_out))
    destination = Destination(stdout, args.out, args.resume, args.summary)
    try:
        tally = grade_batch(
            inputs, options, config, destination, _parallel(args, options, all(i.roi is not None for i in inputs)),
            progress_stream=sys.stderr, quiet=args.quiet,
        )  # fmt: skip
    except UsageError as exc:  # also --out or --summary that cannot be written: the message names which
        command_error("grade", exc.message)
    except NeovascError as exc:  # the batch itself cannot go on (no worker process starts)
        log.error("batch stopped (%s): %s; the lines written so far are kept", exc.code, exc.message)
        return EXIT_INPUT_FAILED
    except OSError as exc:  # from neither --out nor --summary, e.g. standard output closed by the reader
        log.error("batch stopped: unexpected %s; the lines written so far are kept", type(exc).__name__, exc_info=exc)
        return EXIT_INPUT_FAILED
    except KeyboardInterrupt:
        log.warning("interrupted: the lines written so far are kept; run again with --resume to go on")
        return EXIT_INTERRUPTED
    log.info("graded %d input(s): %d ok, %d failed", tally.graded, tally.ok, tally.failed)
    if tally.skipped:
        log.info("--resume: %d input(s) already graded in %s were skipped", tally.skipped, args.out.name)
    return EXIT_INPUT_FAILED if tally.failed else EXIT_OK


def _cmd_compare_manifest(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    """``compare --manifest``: one line per before/after pair of the manifest."""
    if args.before is not None or args.roi_before is not None or args.roi_after is not None:
        command_error(
            "compare", "compare --manifest takes no BEFORE, AFTER, --roi-before or --roi-after (use 'roi' rows)"
        )
    _check_summary(args)
    _check_folders("compare", ("--summary", args.summary))
    try:
        groups = pairs(read_manifest(args.manifest))
    except InvalidManifest as exc:
        usage_exit(exc.code, exc.message)
    options = _options(args, None)
    drawn = all(row.roi is not None for pair in groups for row in (pair.before, pair.after) if row is not None)
    try:
        lines, results = compare_pairs(groups, options, BatchConfig(settings), _parallel(args, options, drawn))
    except KeyboardInterrupt:
        log.warning("interrupted: no comparison was written")
        return EXIT_INTERRUPTED
    for line in lines:
        stdout.write(line.text + "\n")
    if args.summary is not None:
        try:
            write_summary(args.summary, [record(result) for result in results])
        except OSError as exc:  # the comparisons are on standard output already; the table alone is lost
            command_error("compare", f"--summary cannot be written ({exc.strerror or type(exc).__name__})")
    failed = sum(not line.ok for line in lines)
    log.info("compared %d pair(s): %d ok, %d failed", len(lines), len(lines) - failed, failed)
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _cmd_compare(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    from app.compare import compare_paths

    if args.manifest is not None:
        return _cmd_compare_manifest(args, settings, stdout)
    if args.before is None or args.after is None:
        command_error("compare", "compare takes two files, BEFORE and AFTER, or --manifest FILE")
    for path in (args.before, args.after):
        if path.is_dir():
            command_error("compare", f"compare takes two files, {path.name!r} is a directory")
    try:
        before, after = _options(args, args.roi_before), _options(args, args.roi_after)
        comparison = compare_paths(args.before, args.after, before, after, settings)
    except NeovascError as exc:  # the message names the side that failed
        stdout.write(error_json(exc.code, exc.message) + "\n")
        return EXIT_INPUT_FAILED
    stdout.write(comparison.to_json() + "\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.api.server import uvicorn_options
    from app.main import create_app

    # The app is built here, from the address it will really listen on, so that its start-up check (no
    # network address without API keys) sees --host, and a refusal is one clear line, not a traceback.
    # An option not given is None; a given one (never 0 or empty: the parser checks them) always applies.
    given = {"host": args.host, "port": args.port, "workers": args.workers}
    try:
        settings = type(settings).model_validate(
            settings.model_dump() | {k: v for k, v in given.items() if v is not None}
        )
    except ValidationError as exc:
        command_error("serve", "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors()))
    try:
        app = create_app(settings)
    except UsageError as exc:
        usage_exit(exc.code, exc.message)
    uvicorn.run(app, **uvicorn_options(settings))  # problem+json for unparsable requests, limits for slow clients
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
        usage_exit("usage_error", TRAINING_ABSENT)
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
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "grade":
        return _cmd_grade(args, settings, stdout or sys.stdout)
    if args.command == "compare":
        return _cmd_compare(args, settings, stdout or sys.stdout)
    if args.command == "serve":
        return _cmd_serve(args, settings)
    if args.command == "keys":
        from app.api.keys import keys_command

        return keys_command(args.action, args.name, args.file or settings.api_keys_file, stdout or sys.stdout)
    if args.comparison:
        from app.compare import Comparison

        model = Comparison
    else:
        model = Result
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2), file=stdout or sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""The progress bar of a batch on standard error: files done of all, frames, rates and the time left.

Shown only when standard error is a terminal and ``--quiet`` is not given, so logs and pipes stay
clean; the one-line summary at the end is logged either way.
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from app.schemas import Result


def progress_enabled(stream: TextIO, quiet: bool) -> bool:
    """Whether to draw the bar on ``stream``: a terminal, and not ``--quiet``."""
    if quiet:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Counts inputs done (graded or skipped by ``--resume``) and frames measured, drawn with tqdm."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self._bar = tqdm(total=total, unit="file", desc="grading", file=stream, disable=not enabled, dynamic_ncols=True)
        self.frames = 0
        self.skipped = 0

    def skip(self) -> None:
        """An input ``--resume`` found already graded."""
        self.skipped += 1
        self._describe()
        self._bar.update(1)  # redraws, with the new description

    def done(self, result: Result) -> None:
        """An input graded (or failed) in this run."""
        if result.summary is not None and result.summary.frames_analysed is not None:
            self.frames += result.summary.frames_analysed
        self._describe()
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def _describe(self) -> None:
        if self._bar.disable:
            return
        elapsed = self._bar.format_dict.get("elapsed") or 0.0
        rate = self.frames / elapsed if elapsed > 0 else 0.0
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        self._bar.set_postfix_str(f"{self.frames} frames, {rate:.1f} frames/s{skipped}", refresh=False)

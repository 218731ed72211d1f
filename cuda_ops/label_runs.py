"""Where each label-map row is labelled: its span and its runs of one label (numba, both cores).

The counting kernel reads a frame row only inside this span, and sums a run of one label without
testing labels pixel by pixel. Scans test 64 bytes at a time (one vector OR), so a row costs little
more than reading its label bytes once.
"""

from __future__ import annotations

import numpy as np

from .jit import borrow, cached_njit, prange

_BLOCK = 64  # bytes tested at once
MAX_RUNS = 16  # runs per row beyond which a row's labels are tested pixel by pixel


@cached_njit()
def _first_labelled(row):
    """Index of the first non-zero byte of ``row (W,) uint8``, or ``W``."""
    w = row.shape[0]
    start = 0
    while start + _BLOCK <= w:
        block = borrow(row, start, start + _BLOCK)
        seen = np.uint8(0)
        for t in range(_BLOCK):
            seen |= block[t]
        if seen != 0:
            break
        start += _BLOCK
    while start < w and row[start] == 0:
        start += 1
    return start


@cached_njit()
def _end_labelled(row):
    """One past the last non-zero byte of ``row (W,) uint8``, or 0."""
    end = row.shape[0]
    while end >= _BLOCK:
        block = borrow(row, end - _BLOCK, end)
        seen = np.uint8(0)
        for t in range(_BLOCK):
            seen |= block[t]
        if seen != 0:
            break
        end -= _BLOCK
    while end > 0 and row[end - 1] == 0:
        end -= 1
    return end


@cached_njit()
def _run_end(row, start):
    """One past the last position of the run of equal bytes that begins at ``row[start]``."""
    w = row.shape[0]
    value = row[start]
    end = start + 1
    while end + _BLOCK <= w:
        block = borrow(row, end, end + _BLOCK)
        differs = np.uint8(0)
        for t in range(_BLOCK):
            differs |= block[t] ^ value
        if differs != 0:
            break
        end += _BLOCK
    while end < w and row[end] == value:
        end += 1
    return end


@cached_njit(parallel=True)
def row_runs(labels):
    """Where each label-map row is labelled, and its runs of one label.

    ``labels (L, H, W) uint8`` -> ``spans (L, H, 2) int32`` [start, end) of the non-zero labels,
    ``bounds (L, H, MAX_RUNS + 1) int32`` and ``values (L, H, MAX_RUNS) uint8``: the runs tiling the
    span (zero runs between labelled ones included), and ``num_runs (L, H) int32``, -1 where a row
    has more than ``MAX_RUNS`` runs (its labels are then tested pixel by pixel).
    """
    num, h, w = labels.shape
    spans = np.zeros((num, h, 2), np.int32)
    bounds = np.zeros((num, h, MAX_RUNS + 1), np.int32)
    values = np.zeros((num, h, MAX_RUNS), np.uint8)
    num_runs = np.zeros((num, h), np.int32)
    flat = labels.reshape(-1)
    for i in prange(num * h):
        f = i // h
        y = i - f * h
        row = borrow(flat, i * w, (i + 1) * w)  # labels[f, y], without a reference (see jit.borrow)
        start = _first_labelled(row)
        if start == w:
            continue
        end = start + _end_labelled(borrow(row, start, w))
        spans[f, y, 0], spans[f, y, 1] = start, end
        span = borrow(row, 0, end)
        runs, pos = 0, start
        bounds[f, y, 0] = start
        while pos < end and runs <= MAX_RUNS:
            if runs < MAX_RUNS:
                values[f, y, runs] = span[pos]
            pos = _run_end(span, pos)
            runs += 1
            if runs <= MAX_RUNS:
                bounds[f, y, runs] = pos
        num_runs[f, y] = runs if runs <= MAX_RUNS else -1
    return spans, bounds, values, num_runs

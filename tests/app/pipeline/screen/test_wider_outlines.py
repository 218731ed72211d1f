"""An outline of any colour around a white or coloured loop takes the loop's place when it holds clearly more of the
flow (``doppler_box.wider_outlines``); the slow search for such outlines runs only where a loop holds some flow and
leaves enough outside it."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.screen.doppler_box import rect_box, wider_outlines

LOOP = rect_box((100, 100, 200, 160), "rectangle", "outline")  # closed by tissue inside the box
BOX = rect_box((40, 60, 201, 161), "rectangle", "outline")  # the box: the loop runs along its right and bottom lines


def _flow(in_loop: int, beside: int, elsewhere: int = 0) -> np.ndarray:
    """Flow pixels: ``in_loop`` inside the loop, ``beside`` in the box beside it, ``elsewhere`` off the box."""
    flow = np.zeros((300, 400), bool)
    flow[120, 110 : 110 + in_loop] = True
    flow[80, 50 : 50 + beside] = True
    flow[250, 300 : 300 + elsewhere] = True
    return flow


def _never() -> list:
    raise AssertionError("the outline search ran")


def test_the_outline_holding_more_flow_takes_the_loops_place():
    assert wider_outlines([LOOP], lambda: [BOX], _flow(in_loop=30, beside=60)) == [BOX]


def test_a_loop_holding_about_as_much_stays():
    assert wider_outlines([LOOP], lambda: [BOX], _flow(in_loop=60, beside=10)) == [LOOP]


@pytest.mark.parametrize(
    "flow", [_flow(in_loop=0, beside=0, elsewhere=40), _flow(in_loop=90, beside=10)], ids=["none-held", "most-held"]
)
def test_no_search_where_the_loop_holds_no_flow_or_most_of_it(flow):
    assert wider_outlines([LOOP], _never, flow) == [LOOP]

"""The held-out family: one case per seed, truth that matches the frames, colour placed apart from the
tendon, the split, and the Dice-only evaluation. Small screens are used so that each case takes a
fraction of a second."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from models.training.evaluate import main as evaluate_main
from models.training.heldout import (
    DEFAULT_BACKGROUNDS,
    SPLITS,
    amount_of,
    iter_heldout,
    make_case,
    split_of,
)
from models.training.heldout.colour import (
    MAPS,
    MIN_CHROMA,
    PLACEMENTS,
    _vessels,
    colour_map,
    draw_placement,
    flow_frames,
)

ROOT = Path(__file__).resolve().parents[3]
STILL, CLIP = 13, 4  # a 480x640 PNG still and a 480x640 JPEG DICOM clip of 4 frames


@pytest.fixture(scope="module")
def clip():
    return make_case(CLIP)


def test_same_seed_same_case_and_bytes(clip) -> None:
    again = make_case(CLIP)
    assert again.data == clip.data
    assert np.array_equal(again.frames, clip.frames)
    assert np.array_equal(again.tendon, clip.tendon) and np.array_equal(again.doppler, clip.doppler)
    assert again.meta == clip.meta
    assert make_case(STILL).data != clip.data


@pytest.mark.parametrize("seed", [STILL, CLIP], ids=["still", "clip"])
def test_shapes_dtypes_and_truth_inside_the_picture(seed: int, clip) -> None:
    case = clip if seed == CLIP else make_case(seed)
    n, h, w, c = case.frames.shape
    assert case.frames.dtype == np.uint8 and c == 3
    assert n == case.meta["frames"] and (n == 1 or 3 <= n <= 8)
    assert n == 1 or case.meta["format"] not in ("png", "jpeg")
    assert case.tendon.shape == case.box.shape == (h, w) and case.tendon.dtype == bool
    assert case.doppler.shape == case.flow.shape == (n, h, w)
    assert case.tendon.any()  # every case shows a tendon
    x0, y0, x1, y1 = case.picture
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert not (case.tendon & outside).any() and not (case.box & outside).any()
    assert not (case.doppler & ~case.tendon).any() and not (case.flow & ~case.box).any()
    assert not (case.doppler & ~case.flow).any()
    # painted Doppler pixels are coloured on screen, the tendon's other pixels are grey or nearly so
    chroma = case.frames.max(3).astype(int) - case.frames.min(3)
    assert (chroma[case.flow] >= MIN_CHROMA - 2).all()
    assert case.name.startswith(f"heldout-{seed:05d}.")


def test_colour_maps_keep_their_chroma_and_zero_in_the_middle() -> None:
    rng = np.random.default_rng(0)
    for name in MAPS:
        cmap = colour_map(name, rng)
        assert cmap.lut.shape == (256, 3) and cmap.lut.dtype == np.uint8
        assert (cmap.lut.max(1).astype(int) - cmap.lut.min(1) >= MIN_CHROMA).all(), name
    flow = colour_map("colour_flow", rng)
    assert flow.signed and not colour_map("power_orange", rng).signed
    toward, away = flow.paint(np.array([1.0])), flow.paint(np.array([-1.0]))
    assert not np.array_equal(toward, away)


def test_placement_is_drawn_without_the_tendon_and_often_misses_it() -> None:
    rng = np.random.default_rng(1)
    draws = [draw_placement(rng) for _ in range(2000)]
    assert {part for parts in draws for part in parts} == set(PLACEMENTS)
    none = sum(parts == ("none",) for parts in draws) / len(draws)
    blind = sum("inside" not in parts and parts != ("none",) for parts in draws) / len(draws)
    assert 0.18 < none < 0.32 and blind > 0.25  # a quarter without colour; a quarter with colour not in it


@pytest.mark.parametrize("part", ["inside", "around", "outside", "scattered"])
def test_vessels_respect_their_placement(part: str) -> None:
    h, w, ppm = 200, 300, 8.0
    tendon = np.zeros((h, w), bool)
    tendon[80:120, :] = True
    box = np.zeros((h, w), bool)
    box[10:190, 10:290] = True
    inside, total = 0, 0
    for seed in range(6):
        for vessel in _vessels(np.random.default_rng(seed), part, tendon, box, ppm):
            drawn = np.zeros((h, w), bool)
            drawn[vessel.window] = ~np.isnan(vessel.profile)
            inside, total = inside + int((drawn & tendon).sum()), total + int(drawn.sum())
            if part == "outside":  # at least 2 mm (16 px) away from the tendon
                assert not drawn[80 - 15 : 120 + 15].any()
    assert total > 0
    if part == "around":
        assert inside == 0
    if part == "inside":
        assert inside / total > 0.3
    levels, _ = flow_frames(np.random.default_rng(0), (part,), tendon, box, ppm, 3, signed=True)
    assert not (~np.isnan(levels) & ~box).any()  # colour only inside the box, noise and flash included


def test_split_by_seed() -> None:
    assert SPLITS["val"] == (0, 1000) and SPLITS["test"][0] == 1000
    assert split_of(0) == split_of(999) == "val" and split_of(1000) == split_of(10**6) == "test"
    with pytest.raises(ValueError, match="leave the val split"):
        next(iter_heldout(5, 998, split="val"))
    with pytest.raises(ValueError, match="leave the test split"):
        next(iter_heldout(1, 10, split="test"))
    with pytest.raises(ValueError, match="split must be"):
        next(iter_heldout(1, split="train"))
    assert amount_of(0.0) == "none" and amount_of(0.05) == "little" and amount_of(0.1) == "moderate"
    assert amount_of(0.5) == "a lot" and amount_of(None) == "no tendon in box"


def test_cases_with_a_real_background_are_skipped_without_the_folder(tmp_path: Path) -> None:
    if not DEFAULT_BACKGROUNDS.is_dir():
        pytest.skip("the usgra-seg test images (../shared/realdata) are not here")
    seeds = [s.seed for s in iter_heldout(2, 9, split="val", backgrounds=tmp_path / "absent")]
    assert seeds == [9]  # seed 10 lays a real B-mode image around the tendon
    assert make_case(10).meta["background"] is not None
    assert make_case(9, backgrounds=tmp_path / "absent").data == make_case(9).data


def test_truth_colour_fraction(clip) -> None:
    for f in range(len(clip.frames)):
        denominator = (clip.tendon & clip.box).sum()
        assert clip.colour_fraction(f) == pytest.approx((clip.doppler[f] & clip.box).sum() / denominator)
    assert clip.peak_colour_fraction() == max(clip.colour_fraction(f) for f in range(len(clip.frames)))


def test_inference_code_never_imports_the_family() -> None:
    sources = [p for p in (ROOT / "models").glob("*.py")] + list((ROOT / "app").rglob("*.py"))
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith("models.training.heldout") for n in names), path


def test_evaluate_heldout_prints_dice_by_group(weights_dir: Path, capsys) -> None:
    code = evaluate_main(
        ["--heldout", "--split", "val", "--seed", str(STILL), "--n", "1", "--weights", str(weights_dir)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "val" and out["seeds"] == [STILL, STILL] and out["cases"] == 1
    assert 0.0 <= out["dice"] <= 1.0 and out["missed"] in (0, 1)
    assert set(out["by"]) == {"view", "pathology", "amount"}
    code = evaluate_main(["--heldout", "--split", "val", "--seed", "999", "--n", "2", "--weights", str(weights_dir)])
    assert code == 1 and "leave the val split" in capsys.readouterr().out

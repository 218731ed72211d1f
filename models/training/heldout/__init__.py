"""The held-out family: Doppler screen captures made apart from the training generator, to measure how
the tendon model generalises rather than how well it remembers its training images.

Nothing here is shared with ``models.training.synth``: its own speckle (K-distributed scatterers through a
depth-dependent anisotropic beam, :mod:`.speckle`), tendon shapes and pathologies (:mod:`.anatomy`),
tissues around them (:mod:`.tissue`), colour maps and vessel placement (:mod:`.colour`: colour is placed
independently of the tendon, and a quarter of the cases have none), screen layouts and UI
(:mod:`.screens`) and file formats (:mod:`.formats`: PNG, JPEG, DICOM native and JPEG baseline, H.264
MP4). A quarter of the cases lay a real B-mode image around the tendon: the usgra-seg test images
(CC-BY 4.0, repository ``tmkand/usgra-seg``), whose training half the training generator blends into its
frames; without that folder those cases are skipped.

The split (by case seed; a case is a pure function of its seed):

* ``val``: seeds 0-999. The only part that may be looked at while developing a model: choosing a
  checkpoint, a threshold or a recipe (``--split val``).
* ``test``: seeds 1000 and above. For reporting only (``benchmarks/heldout.py``, ``docs/heldout.md``);
  never for choosing anything.

Neither part is ever used to train. Inference code (``models/*.py``, ``app``) never imports this package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from models.training.heldout.case import DEFAULT_BACKGROUNDS, GENERATOR, BackgroundUnavailable, HeldoutCase, make_case

__all__ = [
    "AMOUNTS",
    "DEFAULT_BACKGROUNDS",
    "GENERATOR",
    "SPLITS",
    "BackgroundUnavailable",
    "HeldoutCase",
    "amount_of",
    "iter_heldout",
    "make_case",
    "make_heldout",
    "split_of",
]

# split -> (first seed, last seed + 1); the test part is open-ended
SPLITS: dict[str, tuple[int, int | None]] = {"val": (0, 1000), "test": (1000, None)}


# Doppler amount bands of a true colour fraction: the colour-fraction grade's (0; up to 6 %; up to 12 %;
# above), see docs/grading.md
AMOUNTS = (("none", 0.0), ("little", 0.06), ("moderate", 0.12), ("a lot", 1.0))


def amount_of(cf: float | None) -> str:
    """The Doppler amount band of a true colour fraction (:meth:`HeldoutCase.peak_colour_fraction`)."""
    if cf is None:
        return "no tendon in box"
    return next(name for name, top in AMOUNTS if cf <= top)


def split_of(seed: int) -> str:
    """``"val"`` or ``"test"``: the part of the family case ``seed`` belongs to."""
    if seed < 0:
        raise ValueError(f"held-out case seeds are >= 0, got {seed}")
    return "val" if seed < SPLITS["val"][1] else "test"


def iter_heldout(
    n: int, seed: int | None = None, *, split: str = "test", backgrounds: Path | None = DEFAULT_BACKGROUNDS
) -> Iterator[HeldoutCase]:
    """Cases of seeds ``seed .. seed + n - 1`` (default: the first seeds of ``split``), one at a time.

    Cases that need a real background are skipped when ``backgrounds`` holds no image, so fewer than
    ``n`` may come.

    Raises:
        ValueError: an unknown split, or seeds that leave it.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    first, stop = SPLITS[split]
    seed = first if seed is None else seed
    if seed < first or (stop is not None and seed + n > stop):
        end = "" if stop is None else f"-{stop - 1}"
        raise ValueError(f"seeds {seed}-{seed + n - 1} leave the {split} split (seeds {first}{end})")
    for s in range(seed, seed + n):
        try:
            yield make_case(s, backgrounds)
        except BackgroundUnavailable:
            continue


def make_heldout(
    n: int, seed: int | None = None, *, split: str = "test", backgrounds: Path | None = DEFAULT_BACKGROUNDS
) -> list[HeldoutCase]:
    """As :func:`iter_heldout`, as a list (mind the memory: a 1080p clip of 8 frames is about 50 MB)."""
    return list(iter_heldout(n, seed, split=split, backgrounds=backgrounds))

"""Third synthetic training generator ("neovasc.scanline/1"): scan-line B-mode formation with Doppler.

Pictures are formed the way a linear / convex array scanner forms them: a tissue scene (``layout``,
``tissue``, ``tendon``, ``lookalikes``) is sampled along beam lines, turned into RF A-lines with a pulse and a
depth-dependent lateral beam, envelope-detected, attenuated and TGC-corrected, log-compressed, optionally
spatially compounded (``beam``), scan-converted (``geometry``), then Doppler colour (``doppler``), screen
overlays (``overlays``) and a codec (``codecs``) are applied.
"""

from .sample import GENERATOR_VERSION, ScanSample, make_dataset, make_sample

__all__ = ["GENERATOR_VERSION", "ScanSample", "make_dataset", "make_sample"]

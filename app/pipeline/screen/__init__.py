"""The screen step: the picture, the Doppler box(es), the colour bar(s), the Doppler mode and the pixel size."""

from app.pipeline.screen.calibration import calibrate, calibrate_from_screen
from app.pipeline.screen.depth_scale import DepthScale, read_depth_scale
from app.pipeline.screen.parse import DopplerMode, Screen, find_screen

__all__ = [
    "DepthScale",
    "DopplerMode",
    "Screen",
    "calibrate",
    "calibrate_from_screen",
    "find_screen",
    "read_depth_scale",
]

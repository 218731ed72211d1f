"""The screen step: the picture, the Doppler box(es), the colour bar(s), the Doppler mode and the pixel size."""

from app.pipeline.screen.calibration import calibrate
from app.pipeline.screen.parse import DopplerMode, Screen, find_screen

__all__ = ["DopplerMode", "Screen", "calibrate", "find_screen"]

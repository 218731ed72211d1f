"""neovasc: ultrasound Doppler neovascularity quantification for tendons."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neovasc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

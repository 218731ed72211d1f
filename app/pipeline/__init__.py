"""The grading pipeline. Public API: ``analyze`` and its options."""

from .roi import RoiSpec
from .run import Analysis, AnalyzeOptions, analyze, run_analysis

__all__ = ["Analysis", "AnalyzeOptions", "RoiSpec", "analyze", "run_analysis"]

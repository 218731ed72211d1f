"""The grading pipeline. Public API: ``analyze`` and its options."""

from app.pipeline.roi import RoiSpec
from app.pipeline.run import Analysis, AnalyzeOptions, analyze, run_analysis

__all__ = ["Analysis", "AnalyzeOptions", "RoiSpec", "analyze", "run_analysis"]

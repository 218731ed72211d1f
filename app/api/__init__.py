"""HTTP API: one router per resource, errors as problem+json."""

from .compare import router as compare_router
from .grade import router as grade_router
from .health import router as health_router
from .jobs import router as jobs_router
from .results import router as results_router

__all__ = ["compare_router", "grade_router", "health_router", "jobs_router", "results_router"]

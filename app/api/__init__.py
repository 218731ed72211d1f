"""HTTP API: one router per resource, errors as problem+json."""

from .grade import router as grade_router
from .health import router as health_router

__all__ = ["grade_router", "health_router"]

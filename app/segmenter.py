"""Loading the tendon model from ``weights/`` for the service and the command line."""

from __future__ import annotations

import logging

from app.config import Settings
from app.errors import NoTendonModel
from app.pipeline.device import resolve_device
from app.pipeline.run import Segmenter

log = logging.getLogger("neovasc")


def load_tendon_model(settings: Settings) -> Segmenter | None:
    """The shipped tendon model, or None when ``weights/`` lists none.

    Raises:
        NoTendonModel: the manifest lists a model that cannot be loaded (missing file, hash mismatch...).
    """
    from models import WeightsError, load_segmenter  # torch-heavy import, only when a model is wanted

    try:
        segmenter = load_segmenter(settings.weights_dir, device=resolve_device(settings.device))
    except WeightsError as exc:
        raise NoTendonModel(f"the tendon model in {settings.weights_dir.name}/ could not be loaded: {exc}") from exc
    if segmenter is not None:
        log.info("tendon model %s (sha256 %s...) loaded", segmenter.name, segmenter.sha256[:12])
    return segmenter

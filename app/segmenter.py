"""Loading the tendon model from ``weights/`` for the service, the command line and Python callers."""

from __future__ import annotations

import logging
from functools import lru_cache

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


@lru_cache(maxsize=4)
def default_segmenter(settings: Settings) -> Segmenter:
    """The tendon model of ``settings.weights_dir``, loaded once per process for equal settings.

    Raises:
        NoTendonModel: the folder lists no model, or the listed one cannot be loaded (not cached: a
            repaired folder is read again on the next call).
    """
    model = load_tendon_model(settings)
    if model is None:
        raise NoTendonModel(
            f"no tendon model is installed in {settings.weights_dir.name}/ and no region of interest was given; "
            "pass --roi x0,y0,x1,y1 or --roi-mask MASK.png (HTTP: form field 'roi')"
        )
    return model

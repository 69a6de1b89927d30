"""Built-in detectors: one ``Detector`` per entity type shape (see ``base``)."""

from govproxy.dlp.detectors.base import Detector, TextState
from govproxy.dlp.detectors.pii import PII_DETECTORS
from govproxy.dlp.detectors.secrets import SECRET_DETECTORS

BUILTIN_DETECTORS: tuple[Detector, ...] = SECRET_DETECTORS + PII_DETECTORS

__all__ = ["BUILTIN_DETECTORS", "Detector", "TextState"]

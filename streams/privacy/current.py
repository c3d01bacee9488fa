"""The deployment's detection as it stands (the one `PrivacySettings` row), for texts that
arrive outside a stream worker: knowledge queries typed by agents and the results Genesys
returns, and what officers type (notes, corrections, comments)."""

from streams.privacy.detect import Detector, Scan, detector_for
from streams.privacy.models import PrivacySettings


def detector() -> Detector:
    return detector_for(PrivacySettings.current().config())


def scan(text: str) -> Scan:
    """`text` with its personal data taken out, and what was found (the originals, in memory
    only)."""
    return detector().scan(text) if text else Scan(text)


def redacted(text: str) -> str:
    return scan(text).text

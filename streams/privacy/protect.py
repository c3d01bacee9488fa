"""Personal data taken out of a frame before it becomes a record (streams.ingest.records):
the decoded message is scanned string by string before the flavour's reader sees it, so the
snippet is cut from text that is already clean; the participants' names are taken out in a
second pass once the conversation is known. A frame that cannot be read is quarantined with
its raw text cleaned the same way.

Plain Python, in the event loop, with no database: what was found travels with the record
(`findings`, and the originals where the deployment keeps them) to the batch writer, which
keeps the subject hashes and the encrypted originals (streams.privacy.store).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.privacy.detect import CARD_CODE, Detector, DetectorConfig, Finding, detector_for


# Card verification codes are never kept, not even sealed (PCI DSS req. 3.3.1): originals
# are kept with them taken out.
def codes() -> Detector:
    """The detector of card verification codes alone (kept out even of sealed originals)."""
    return detector_for(DetectorConfig(kinds=frozenset({CARD_CODE})))


@dataclass
class Protected:
    """A message with its personal data taken out, and what was found in it."""

    payload: object
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Protector:
    detector: Detector
    keep_originals: bool = False
    # A conversation's participants' names, as Genesys gave them (none when unknown).
    names_for: Callable[[str], tuple[str, ...]] = field(default=lambda conversation: ())

    def message(self, payload) -> Protected:
        redacted, findings = self.detector.scan_value(payload)
        return Protected(redacted, findings)

    def names(self, conversation_id: str, snippet: str, payload) -> tuple[str, object, tuple]:
        """The snippet and payload with the conversation's participants' names taken out."""
        names = self.names_for(conversation_id) if conversation_id else ()
        if not names:
            return snippet, payload, ()
        redacted, found = self.detector.scan_value(payload, names, only_names=True)
        clean, _ = self.detector.scan_value(snippet, names, only_names=True)
        return clean, redacted, found

    def text(self, raw: str) -> tuple[str, tuple[Finding, ...]]:
        scanned = self.detector.scan(raw)
        return scanned.text, scanned.findings

    @staticmethod
    def originals(snippet: str, payload) -> dict[str, str]:
        """What is kept encrypted for a reveal: the text officers review, and the payload,
        as they arrived but for card verification codes."""
        return {
            "snippet": codes().scan(snippet).text,
            "payload": json.dumps(
                codes().scan_value(payload)[0], ensure_ascii=False, sort_keys=True
            ),
        }

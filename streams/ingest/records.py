"""Frames become records, in the event loop: decode (at most once, see `Frame`), validate,
score, cut the snippet. Pure and cheap, no ORM: a frame that cannot become an insight
becomes a Quarantine record with its reason, never an exception.

Both wire flavours take the same path (`process_frame`); what differs is how a decoded
message becomes an insight's fields, which each flavour's reader says (`read_seed_event`,
`read_notification`).
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from streams.genesys import scoring
from streams.genesys.frames import Decoded, Frame, preview
from streams.genesys.payloads import EVENT_TYPE_INSIGHT, Filter, InsightEvent
from streams.genesys.scoring import Verdict
from streams.genesys.suggestions import (
    SUGGESTION_KINDS,
    UNREVIEWED_TYPES,
    read_suggestion,
    topic_kind,
)
from streams.genesys.summaries import SUMMARY_TYPE, Summary, is_summary_topic
from streams.genesys.times import iso
from streams.ingest.models import Insight, QuarantinedFrame
from streams.privacy.protect import Protector

AUTO_STATUS = {
    Verdict.AUTO_APPROVE: Insight.ReviewStatus.APPROVED,
    Verdict.AUTO_FILTER: Insight.ReviewStatus.FILTERED,
}


@dataclass(slots=True)
class Accepted:
    external_id: str
    interaction_id: str
    insight_type: str
    confidence: float | None
    relevance_score: float | None
    snippet: str
    payload: dict
    event_time: datetime | None
    received_at: float
    # Only ids the server issued are resume points; a hash of the payload is not.
    resume_id: str | None
    # An automatic decision by a confidence-matrix rule: the status, and the rule.
    auto_status: str = ""
    auto_rule: str = ""
    # The recorded version of the matrix that judged it.
    rule_version_id: int | None = None
    # Personal data taken out of it (in memory only: its originals go to the writer).
    findings: tuple = ()
    originals: dict | None = None


@dataclass(slots=True)
class Filtered:
    """A valid insight outside its type's confidence range (or its stream's filters):
    counted, not stored."""

    resume_id: str | None
    received_at: float
    # Which insight it was, for a reconciliation to account for it.
    external_id: str = ""
    interaction_id: str = ""
    insight_type: str = ""
    # The rule that kept it out, in words as it was then (the batch's audit entry counts by it).
    reason: str = ""


@dataclass(slots=True)
class Ignored:
    """A frame that is not an insight (a heartbeat, say)."""

    received_at: float


@dataclass(slots=True)
class Quarantine:
    reason: str
    encoding: str
    external_id: str
    raw: str
    raw_size: int
    received_at: float
    findings: tuple = ()  # personal data taken out of `raw` (counted, never kept)


Record = Accepted | Filtered | Ignored | Quarantine


@dataclass(frozen=True, slots=True)
class InsightFields:
    """What a flavour's reader finds in a message: an insight before scoring."""

    external_id: str
    interaction_id: str
    insight_type: str
    confidence: float | None
    snippet: str
    payload: dict
    event_time: datetime | None
    # Only ids the server issued are resume points; a hash of the payload is not.
    resume_id: str | None


class Unreadable(Exception):
    """A message that is not a valid insight: quarantined with this reason."""

    def __init__(self, reason: str, external_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.external_id = external_id


def read_seed_event(message: dict) -> InsightFields | None:
    """Seed flavour: an `agentassist.insight` event; None for any other type of frame."""
    kind = message.get("type")
    if kind is None:
        raise Unreadable("frame has no type")
    if kind != EVENT_TYPE_INSIGHT:
        return None
    try:
        event = InsightEvent.model_validate(message)
    except ValidationError as exc:
        external_id = message.get("id")
        raise Unreadable(
            _validation_reason(exc), external_id if isinstance(external_id, str) else ""
        ) from None
    return InsightFields(
        external_id=event.id or _content_id(message),
        interaction_id=event.interaction_id,
        insight_type=event.insight_type,
        confidence=event.confidence,
        snippet=scoring.extract_snippet(event.content),
        payload=message,
        event_time=event.timestamp,
        resume_id=event.id,
    )


def read_notification(message: dict) -> InsightFields | None:
    """Notifications flavour: a suggestion event becomes an insight whose type is the topic's
    suggestion kind, and whose resume cursor is its event time (the back-fill after a drop
    starts from it); None for other topics and for engagements with a suggestion."""
    topic = message.get("topicName")
    if not isinstance(topic, str):
        raise Unreadable("frame has no topicName")
    parsed = topic_kind(topic)
    summary = parsed is None and is_summary_topic(topic)
    if parsed is None and not summary:
        return None
    body = message.get("eventBody")
    if not isinstance(body, dict):
        raise Unreadable("eventBody is not an object")
    if summary:
        return _summary(body)
    if body.get("engagementType") not in (None, "", "Unknown"):
        # An engagement with a suggestion already stored (an agent's click, or the feedback
        # assistgov sent for an officer's verdict, echoed back): not a new insight. The SDK's
        # events carry the key on every suggestion, often null: the value decides.
        return None
    if parsed[1] not in SUGGESTION_KINDS:
        external_id = body.get("suggestionId") or body.get("id")
        reason = UNREVIEWED_TYPES.get(body.get("type"), f"a suggestion of kind {parsed[1]!r}")
        raise Unreadable(
            f"{reason[:120]}: not a kind assistgov reviews",
            external_id if isinstance(external_id, str) else "",
        )
    try:
        suggestion = read_suggestion(parsed[1], body, snippet_limit=scoring.SNIPPET_LENGTH)
    except ValidationError as exc:
        external_id = body.get("suggestionId") or body.get("id")
        raise Unreadable(
            _validation_reason(exc, what="invalid suggestion"),
            external_id if isinstance(external_id, str) else "",
        ) from None
    return InsightFields(
        external_id=suggestion.suggestion_id,
        interaction_id=suggestion.conversation_id,
        insight_type=suggestion.kind,
        confidence=suggestion.confidence,
        snippet=suggestion.text,
        payload=body,
        event_time=suggestion.event_time,
        resume_id=iso(suggestion.event_time) if suggestion.event_time else None,
    )


def _summary(body: dict) -> InsightFields | None:
    """A conversation summary with its predicted wrap-up codes: an insight of type `summary`;
    None for a summary Genesys could not make (`errorType`, no text)."""
    if body.get("errorType") and not (body.get("summary") or {}).get("text"):
        return None
    try:
        summary = Summary.read(body)
    except ValidationError as exc:
        external_id = body.get("summaryId") or body.get("id")
        raise Unreadable(
            _validation_reason(exc, what="invalid summary"),
            external_id if isinstance(external_id, str) else "",
        ) from None
    if not summary.text.strip():
        return None
    return InsightFields(
        external_id=summary.summary_id,
        interaction_id=summary.conversation_id,
        insight_type=SUMMARY_TYPE,
        confidence=summary.confidence,
        snippet=scoring.extract_snippet(summary.text, limit=scoring.SNIPPET_LENGTH),
        payload=summary.normalised(),
        event_time=summary.event_time,
        resume_id=iso(summary.event_time) if summary.event_time else None,
    )


READERS = {"seed": read_seed_event, "notifications": read_notification}


def process_frame(
    frame: Frame,
    *,
    read,
    matrix: scoring.Matrix,
    max_frame_bytes: int,
    filters: tuple[Filter, ...] = (),
    protect: Protector | None = None,
) -> Record:
    """One frame of either flavour as a record. `read` is the flavour's reader; `filters`
    are a stream's extra filters where the server does not apply them (notifications).
    With `protect`, personal data is taken out of the message before it is read (and of a
    quarantined frame's raw text)."""
    size = frame.size
    if size > max_frame_bytes:
        return _quarantine(
            frame,
            f"frame of {size} bytes is over the {max_frame_bytes}-byte limit",
            protect=protect,
        )
    decoded = frame.decoded
    if not isinstance(decoded, Decoded):
        return _quarantine(frame, decoded.reason, encoding=decoded.encoding, protect=protect)
    try:
        message = protect.message(decoded.payload) if protect else None
    except Exception as exc:
        return _withheld(frame, decoded.encoding, exc)
    try:
        fields = read(message.payload if message else decoded.payload)
    except Unreadable as exc:
        return _quarantine(
            frame,
            exc.reason,
            encoding=decoded.encoding,
            external_id=exc.external_id,
            protect=protect,
        )
    if fields is None:
        return Ignored(frame.received_at)
    if filters and not _passes(filters, fields):
        return _filtered(fields, frame.received_at, "the stream's filters")
    record = _scored(matrix, fields, frame.received_at)
    if message is not None and isinstance(record, Accepted):
        _protected(record, protect, message.findings, read, decoded.payload)
    return record


def _protected(record: Accepted, protect: Protector, findings, read, original) -> None:
    """The record with the participants' names taken out too, what was found, and (where
    the deployment keeps them) its originals."""
    record.snippet, record.payload, named = protect.names(
        record.interaction_id, record.snippet, record.payload
    )
    record.findings = (*findings, *named)
    if record.findings and protect.keep_originals:
        as_read = read(original)  # the same reader over the message as it arrived
        record.originals = protect.originals(as_read.snippet, original)


def _scored(matrix: scoring.Matrix, fields: InsightFields, received_at: float) -> Record:
    """An insight judged by its stream's confidence matrix: dropped, or accepted with the
    relevance score and any automatic decision."""
    verdict, rule = matrix.verdict(fields.insight_type, fields.confidence)
    if verdict is Verdict.DROP:
        return _filtered(fields, received_at, rule)
    return Accepted(
        external_id=fields.external_id,
        interaction_id=fields.interaction_id,
        insight_type=fields.insight_type,
        confidence=fields.confidence,
        relevance_score=scoring.relevance(
            fields.confidence, matrix.weight_for(fields.insight_type)
        ),
        snippet=fields.snippet,
        payload=fields.payload,
        event_time=fields.event_time,
        received_at=received_at,
        resume_id=fields.resume_id,
        auto_status=AUTO_STATUS.get(verdict, ""),
        auto_rule=rule,
        rule_version_id=matrix.version_id,
    )


def _filtered(fields: InsightFields, received_at: float, reason: str) -> Filtered:
    return Filtered(
        resume_id=fields.resume_id,
        received_at=received_at,
        external_id=fields.external_id,
        interaction_id=fields.interaction_id,
        insight_type=fields.insight_type,
        reason=reason,
    )


def _passes(filters: tuple[Filter, ...], fields: InsightFields) -> bool:
    """A stream's extra filters, applied as the seed server applies them."""
    values = {
        "type": EVENT_TYPE_INSIGHT,
        "insight_type": fields.insight_type,
        "confidence": fields.confidence,
        "interaction_id": fields.interaction_id,
    }
    return all(f.matches(values) for f in filters)


def _content_id(payload: dict) -> str:
    """An external id for events without one: the same payload is the same event."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _validation_reason(exc: ValidationError, *, what: str = "invalid insight") -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "frame"
        parts.append(f"{where}: {error['msg']}")
    return f"{what}: " + "; ".join(parts)


def _quarantine(
    frame: Frame,
    reason: str,
    *,
    encoding: str = "",
    external_id: str = "",
    protect: Protector | None = None,
) -> Quarantine:
    raw = frame.raw
    if not encoding:
        encoding = "text" if isinstance(raw, str) else "binary"
    text = preview(raw, QuarantinedFrame.RAW_LIMIT)
    findings = ()
    if protect is not None:
        try:
            text, findings = protect.text(text)
        except Exception as exc:
            return _withheld(frame, encoding, exc, reason)
    return Quarantine(
        reason=reason[:500],
        encoding=encoding,
        external_id=external_id[:128],
        raw=text,
        raw_size=frame.size,
        received_at=frame.received_at,
        findings=findings,
    )


WITHHELD = "[withheld: personal data detection could not read this frame]"


def _withheld(frame: Frame, encoding: str, error: Exception, reason: str = "") -> Quarantine:
    """A frame the detector failed on: quarantined with the reason, its text not kept at all
    (it could hold personal data nobody took out)."""
    failed = f"personal data detection failed ({type(error).__name__})"
    return Quarantine(
        reason=f"{reason}; {failed}"[:500] if reason else failed,
        encoding=encoding or ("text" if isinstance(frame.raw, str) else "binary"),
        external_id="",
        raw=WITHHELD,
        raw_size=frame.size,
        received_at=frame.received_at,
    )


def unstorable(record: Record, error: Exception) -> Quarantine:
    """A record the database refused, to keep in quarantine instead."""
    # The payload is the redacted one; a record without one is named, never printed (its
    # findings hold what was taken out).
    payload = getattr(record, "payload", None) or {"record": type(record).__name__}
    raw = json.dumps(payload, default=str)
    return _quarantine(
        Frame(raw, record.received_at), f"could not be stored: {type(error).__name__}: {error}"
    )

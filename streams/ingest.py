"""Ingestion: frames become records (in the event loop), records become rows (in batches).

`process_frame` (seed flavour) and `process_notification` (notifications flavour) are
pure and cheap: decode, validate, score, cut the snippet. They never raise for bad
input; a frame that cannot become an insight becomes a Quarantine record with its reason.
`store_batch` writes a batch in one transaction, ignoring insights whose external id the
stream already has, so replays after a reconnect (and back-fills) are stored once.
"""

import hashlib
import json
import operator
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connections, models, router, transaction
from django.db.models import F
from pydantic import ValidationError

from streams import webhooks
from streams.genesys import scoring
from streams.genesys.frames import Decoded, DecodeError, decode_frame, preview
from streams.genesys.notifications import iso, read_suggestion, topic_kind
from streams.genesys.payloads import EVENT_TYPE_INSIGHT, Filter, InsightEvent
from streams.genesys.scoring import Verdict
from streams.models import Insight, QuarantinedFrame, StreamConfig, StreamStatus
from streams.signals import insights_auto_decided

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


@dataclass(slots=True)
class Filtered:
    """A valid insight outside its type's confidence range: counted, not stored."""

    resume_id: str | None
    received_at: float


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


Record = Accepted | Filtered | Ignored | Quarantine


def process_frame(
    raw: str | bytes, received_at: float, *, matrix: scoring.Matrix, max_frame_bytes: int
) -> Record:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_frame_bytes:
        return _quarantine(
            raw, received_at, f"frame of {size} bytes is over the {max_frame_bytes}-byte limit"
        )
    decoded = decode_frame(raw)
    if not isinstance(decoded, Decoded):
        return _quarantine(raw, received_at, decoded.reason, encoding=decoded.encoding)
    payload = decoded.payload
    kind = payload.get("type")
    if kind is None:
        return _quarantine(raw, received_at, "frame has no type", encoding=decoded.encoding)
    if kind != EVENT_TYPE_INSIGHT:
        return Ignored(received_at)
    try:
        event = InsightEvent.model_validate(payload)
    except ValidationError as exc:
        return _quarantine(
            raw,
            received_at,
            _validation_reason(exc),
            encoding=decoded.encoding,
            external_id=payload.get("id") if isinstance(payload.get("id"), str) else "",
        )
    return _scored(
        matrix,
        external_id=event.id or _content_id(payload),
        interaction_id=event.interaction_id,
        insight_type=event.insight_type,
        confidence=event.confidence,
        snippet=scoring.extract_snippet(event.content),
        payload=payload,
        event_time=event.timestamp,
        received_at=received_at,
        resume_id=event.id,
    )


def _scored(matrix: scoring.Matrix, *, resume_id: str | None, **fields) -> Accepted | Filtered:
    """An insight judged by its stream's confidence matrix: dropped, or accepted with the
    relevance score and any automatic decision."""
    insight_type, confidence = fields["insight_type"], fields["confidence"]
    verdict, rule = matrix.verdict(insight_type, confidence)
    if verdict is Verdict.DROP:
        return Filtered(resume_id=resume_id, received_at=fields["received_at"])
    return Accepted(
        **fields,
        relevance_score=scoring.relevance(confidence, matrix.weight_for(insight_type)),
        resume_id=resume_id,
        auto_status=AUTO_STATUS.get(verdict, ""),
        auto_rule=rule,
    )


def process_notification(
    raw: str | bytes,
    received_at: float,
    decoded: Decoded | DecodeError,
    *,
    matrix: scoring.Matrix,
    max_frame_bytes: int,
    filters: tuple[Filter, ...] = (),
) -> Record:
    """A notifications-flavour frame (already decoded by the client): a suggestion event
    becomes an insight whose type is the topic's suggestion kind; the resume cursor is its
    event time, which the back-fill after a drop starts from."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_frame_bytes:
        return _quarantine(
            raw, received_at, f"frame of {size} bytes is over the {max_frame_bytes}-byte limit"
        )
    if not isinstance(decoded, Decoded):
        return _quarantine(raw, received_at, decoded.reason, encoding=decoded.encoding)
    message = decoded.payload
    topic = message.get("topicName")
    if not isinstance(topic, str):
        return _quarantine(raw, received_at, "frame has no topicName", encoding=decoded.encoding)
    parsed = topic_kind(topic)
    if parsed is None:
        return Ignored(received_at)
    body = message.get("eventBody")
    if not isinstance(body, dict):
        return _quarantine(
            raw, received_at, "eventBody is not an object", encoding=decoded.encoding
        )
    try:
        suggestion = read_suggestion(parsed[1], body, snippet_limit=scoring.SNIPPET_LENGTH)
    except ValidationError as exc:
        external_id = body.get("suggestionId") or body.get("id")
        return _quarantine(
            raw,
            received_at,
            _validation_reason(exc, what="invalid suggestion"),
            encoding=decoded.encoding,
            external_id=external_id if isinstance(external_id, str) else "",
        )
    resume_id = iso(suggestion.event_time) if suggestion.event_time else None
    if filters and not _passes(filters, suggestion):
        return Filtered(resume_id=resume_id, received_at=received_at)
    return _scored(
        matrix,
        external_id=suggestion.suggestion_id,
        interaction_id=suggestion.conversation_id,
        insight_type=suggestion.kind,
        confidence=suggestion.confidence,
        snippet=suggestion.text,
        payload=body,
        event_time=suggestion.event_time,
        received_at=received_at,
        resume_id=resume_id,
    )


def _passes(filters: tuple[Filter, ...], suggestion) -> bool:
    """A stream's extra filters, applied to a suggestion as the seed server applies them."""
    fields = {
        "type": EVENT_TYPE_INSIGHT,
        "insight_type": suggestion.kind,
        "confidence": suggestion.confidence,
        "interaction_id": suggestion.conversation_id,
    }
    return all(f.matches(fields) for f in filters)


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
    raw: str | bytes, received_at: float, reason: str, *, encoding: str = "", external_id: str = ""
) -> Quarantine:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if not encoding:
        encoding = "text" if isinstance(raw, str) else "binary"
    return Quarantine(
        reason=reason[:500],
        encoding=encoding,
        external_id=external_id[:128],
        raw=preview(raw, QuarantinedFrame.RAW_LIMIT),
        raw_size=size,
        received_at=received_at,
    )


def unstorable(record: Record, error: Exception) -> Quarantine:
    """A record the database refused, to keep in quarantine instead."""
    raw = json.dumps(getattr(record, "payload", None) or repr(record), default=str)
    return _quarantine(
        raw, record.received_at, f"could not be stored: {type(error).__name__}: {error}"
    )


@dataclass
class BatchResult:
    created_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    quarantined: int = 0
    filtered: int = 0
    last_event_id: str | None = None


def _timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def store_batch(stream_id: int, records: list[Record]) -> BatchResult:
    """Write a batch in one transaction and update the stream's counters with it.

    An insight whose external id the stream already has is skipped by the insert itself
    (ON CONFLICT DO NOTHING), so a replay, a back-fill or a second writer while a lease
    changes hands is counted as a duplicate, not an error.
    """
    result = BatchResult()
    accepted: dict[str, Accepted] = {}
    quarantined: list[Quarantine] = []
    frames = len(records)
    last_frame_at = max((r.received_at for r in records), default=None)
    for record in records:
        if isinstance(record, Accepted):
            if record.external_id in accepted:
                result.duplicates += 1
            else:
                accepted[record.external_id] = record
        elif isinstance(record, Quarantine):
            quarantined.append(record)
        elif isinstance(record, Filtered):
            result.filtered += 1
        if getattr(record, "resume_id", None):
            result.last_event_id = record.resume_id

    with transaction.atomic():
        stored_at = datetime.now(UTC)
        rows = [_insight_values(stream_id, record, stored_at) for record in accepted.values()]
        ids = INSIGHT_ROWS.insert(rows)
        result.duplicates += len(rows) - len(ids)
        rows = [row for row in rows if row["external_id"] in ids]
        result.created_ids = [ids[row["external_id"]] for row in rows]
        QuarantinedFrame.objects.bulk_create(
            QuarantinedFrame(
                stream_id=stream_id,
                received_at=_timestamp(q.received_at),
                reason=q.reason,
                encoding=q.encoding,
                external_id=q.external_id,
                raw=q.raw,
                raw_size=q.raw_size,
            )
            for q in quarantined
        )
        result.quarantined = len(quarantined)
        updates = {
            "frames": F("frames") + frames,
            "insights_stored": F("insights_stored") + len(rows),
            "duplicates": F("duplicates") + result.duplicates,
            "quarantined": F("quarantined") + result.quarantined,
            "filtered": F("filtered") + result.filtered,
        }
        if last_frame_at is not None:
            updates["last_frame_at"] = _timestamp(last_frame_at)
        if result.last_event_id:
            updates["last_event_id"] = result.last_event_id
        StreamStatus.objects.filter(pk=stream_id).update(**updates)
        if rows:
            _announce(stream_id, rows, result.created_ids)
    return result


def _announce(stream_id: int, rows: list[dict], ids: list[int]) -> None:
    """Within the batch's transaction: webhook outbox rows, and the rules' decisions."""
    name = StreamConfig.objects.filter(pk=stream_id).values_list("name", flat=True).first() or ""
    # Model instances only for the payloads of endpoints that want them (`enqueue` reads
    # its items only then).
    created = list(zip(ids, rows, strict=True))
    webhooks.enqueue(
        "insight.created",
        (webhooks.insight_data(Insight(pk=pk, **row), name) for pk, row in created),
    )
    webhooks.enqueue(
        "insight.approved",
        (
            webhooks.insight_data(Insight(pk=pk, **row), name)
            for pk, row in created
            if row["review_status"] == Insight.ReviewStatus.APPROVED
        ),
    )
    decisions: dict[str, dict] = {}
    for pk, row in created:
        if row["review_rule"]:
            entry = decisions.setdefault(
                row["review_rule"], {"status": row["review_status"], "insights": []}
            )
            entry["insights"].append(pk)
    if decisions:
        insights_auto_decided.send(
            sender=Insight, stream_id=stream_id, stream_name=name, decisions=decisions
        )


def _insight_values(stream_id: int, record: Accepted, stored_at: datetime) -> dict:
    """An insight's field values, by the names `INSIGHT_ROWS` writes."""
    received = _timestamp(record.received_at)
    decided = bool(record.auto_status)
    return {
        "stream_id": stream_id,
        "external_id": record.external_id,
        "interaction_id": record.interaction_id,
        "insight_type": record.insight_type,
        "confidence": record.confidence,
        "relevance_score": record.relevance_score,
        "snippet": record.snippet,
        "payload": record.payload,
        "event_time": record.event_time,
        "received_at": received,
        "latency_ms": max(0.0, (stored_at - received).total_seconds() * 1000),
        "review_status": record.auto_status or Insight.ReviewStatus.PENDING,
        "reviewed_at": stored_at if decided else None,
        "review_rule": record.auto_rule[:200] if decided else "",
        "review_reason_code": "",
        "review_note": "",
    }


class RowInserter:
    """Multi-row `INSERT ... RETURNING` of ready values, as `bulk_create` does it, but
    without a model instance per row and a preparation of every field of every row: that
    was 72% of ingestion's time in profiles. Only fields whose Python value is not already
    what the driver takes (datetimes, JSON) go through the field's own `get_db_prep_save`.
    For the two databases assistgov runs on: SQLite, and PostgreSQL (through COPY).

    Values are trusted to have their field's Python type (str for text, float or None for
    floats, int for a foreign key's id): callers build them, they are not user input.
    A row that would break the `unique` constraint is skipped (ON CONFLICT DO NOTHING).
    Ids are matched to rows by `key`, unique within a call (SQLite does not promise
    RETURNING's order).
    """

    PLAIN = (models.CharField, models.TextField, models.FloatField, models.IntegerField)

    def __init__(
        self,
        model: type[models.Model],
        fields: tuple[str, ...],
        *,
        key: str,
        unique: tuple[str, ...],
    ):
        self.model = model
        self.fields = fields
        self.key = key
        self.unique = unique
        self._values = operator.itemgetter(*fields)
        self._plans: dict[str, tuple] = {}
        self._statements: dict[tuple[str, int], str] = {}

    def insert(self, rows: list[dict]) -> dict:
        """Insert `rows` (dicts of `fields`); returns the id of each row inserted, by key."""
        if not rows:
            return {}
        connection = connections[router.db_for_write(self.model)]
        converters, per_statement = self._plan(connection)
        values = []
        for row in rows:
            row_values = list(self._values(row))
            for index, convert in converters:
                row_values[index] = convert(row_values[index], connection)
            values.append(row_values)
        ids: dict = {}
        with (
            transaction.atomic(using=connection.alias, savepoint=False),
            connection.cursor() as cursor,
        ):
            if connection.vendor == "postgresql":
                self._copy(cursor, values)
                cursor.execute(self._sql(connection, 0))
                ids.update((key, pk) for pk, key in cursor.fetchall())
            else:  # SQLite: multi-row VALUES, within its limit of parameters
                for start in range(0, len(values), per_statement):
                    chunk = values[start : start + per_statement]
                    params = [value for row_values in chunk for value in row_values]
                    cursor.execute(self._sql(connection, len(chunk)), params)
                    ids.update((key, pk) for pk, key in cursor.fetchall())
        return ids

    def _copy(self, cursor, values: list[list]) -> None:
        """PostgreSQL: COPY the rows into this session's staging table, which empties itself
        at commit. COPY is psycopg's fastest way in; the INSERT ... SELECT that follows
        keeps ON CONFLICT and RETURNING, which COPY has not."""
        quote = cursor.db.ops.quote_name
        columns = ", ".join(quote(self._field(name).column) for name in self.fields)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(self._staging)} "  # noqa: S608
            f"ON COMMIT DELETE ROWS AS SELECT {columns} "
            f"FROM {quote(self.model._meta.db_table)} WITH NO DATA"
        )
        with cursor.copy(f"COPY {quote(self._staging)} ({columns}) FROM STDIN") as copy:
            for row_values in values:
                copy.write_row(row_values)

    @property
    def _staging(self) -> str:
        return f"{self.model._meta.db_table}_staging"

    def _field(self, name: str) -> models.Field:
        return self.model._meta.get_field(name)  # a name, or a foreign key's attname

    @staticmethod
    def _converter(field: models.Field):
        if isinstance(field, models.DateTimeField):
            # The backend's own step, without the field's checks for naive values: ours
            # are aware (UTC) or None.
            return lambda value, connection: connection.ops.adapt_datetimefield_value(value)
        return field.get_db_prep_save

    def _plan(self, connection) -> tuple[tuple, int]:
        plan = self._plans.get(connection.alias)
        if plan is None:
            converters = tuple(
                (index, self._converter(field))
                for index, name in enumerate(self.fields)
                if not isinstance(field := self._field(name), self.PLAIN) and not field.many_to_one
            )
            per_statement = 0  # PostgreSQL: one COPY, whatever the count
            if connection.vendor == "sqlite":
                connection.ensure_connection()
                limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                per_statement = max(1, min(1000, limit // len(self.fields)))
            plan = self._plans[connection.alias] = (converters, per_statement)
        return plan

    def _sql(self, connection, count: int) -> str:
        """The insert of `count` rows of values, or (PostgreSQL) of the staged rows."""
        sql = self._statements.get((connection.alias, count))
        if sql is None:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(self._field(name).column) for name in self.fields)
            unique = ", ".join(quote(self._field(name).column) for name in self.unique)
            staged = ""
            if connection.vendor == "postgresql":
                # The rows leave the staging table as they go in: a second insert in the
                # same transaction starts from an empty one.
                staged = f"WITH staged AS (DELETE FROM {quote(self._staging)} RETURNING *) "  # noqa: S608
                source = f"SELECT {columns} FROM staged"  # noqa: S608
            else:
                row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
                source = f"VALUES {', '.join([row] * count)}"
            table = quote(self.model._meta.db_table)
            returning = (
                f"{quote(self.model._meta.pk.column)}, {quote(self._field(self.key).column)}"
            )
            # Identifiers come from the model and are quoted; every value is a parameter.
            sql = self._statements[(connection.alias, count)] = (
                f"{staged}INSERT INTO {table} ({columns}) {source} "
                f"ON CONFLICT ({unique}) DO NOTHING RETURNING {returning}"
            )
        return sql


INSIGHT_ROWS = RowInserter(
    Insight,
    (
        "stream_id",
        "external_id",
        "interaction_id",
        "insight_type",
        "confidence",
        "relevance_score",
        "snippet",
        "payload",
        "event_time",
        "received_at",
        "latency_ms",
        "review_status",
        "reviewed_at",
        "review_rule",
        "review_reason_code",
        "review_note",
    ),
    key="external_id",
    unique=("stream_id", "external_id"),
)

"""Records become rows, in batches: one transaction per batch, in the stream worker's
database thread.

An insight whose external id the stream already has is skipped by the insert itself, so
replays after a reconnect (and back-fills) are stored once.
"""

import operator
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connections, models, router, transaction
from django.db.models import F

from streams import ports
from streams.config.models import StreamConfig
from streams.genesys.summaries import SUMMARY_TYPE
from streams.genesys.times import from_timestamp
from streams.ingest.models import Insight, QuarantinedFrame
from streams.ingest.records import Accepted, Filtered, Quarantine, Record
from streams.privacy import store as privacy
from streams.webhooks import outbox
from streams.worker.models import StreamStatus


@dataclass
class BatchResult:
    created_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    quarantined: int = 0
    filtered: int = 0
    last_event_id: str | None = None


def store_batch(stream_id: int, records: list[Record]) -> BatchResult:
    """Write a batch in one transaction and update the stream's counters with it.

    An insight whose external id the stream already has is skipped by the insert itself
    (ON CONFLICT DO NOTHING), so a replay, a back-fill or a second writer while a lease
    changes hands is counted as a duplicate, not an error.
    """
    result = BatchResult()
    accepted: dict[str, Accepted] = {}
    quarantined: list[Quarantine] = []
    not_stored: dict[tuple[str, str], int] = {}  # (rule, insight type) -> how many
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
            key = (record.reason or "not stored", record.insight_type)
            not_stored[key] = not_stored.get(key, 0) + 1
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
                received_at=from_timestamp(q.received_at),
                reason=q.reason,
                encoding=q.encoding,
                external_id=q.external_id,
                raw=q.raw,
                raw_size=q.raw_size,
            )
            for q in quarantined
        )
        result.quarantined = len(quarantined)
        privacy.keep(stream_id, [accepted[row["external_id"]] for row in rows], quarantined)
        updates = {
            "frames": F("frames") + frames,
            "insights_stored": F("insights_stored") + len(rows),
            "duplicates": F("duplicates") + result.duplicates,
            "quarantined": F("quarantined") + result.quarantined,
            "filtered": F("filtered") + result.filtered,
        }
        if last_frame_at is not None:
            updates["last_frame_at"] = from_timestamp(last_frame_at)
        if result.last_event_id:
            updates["last_event_id"] = result.last_event_id
        StreamStatus.objects.filter(pk=stream_id).update(**updates)
        if rows or not_stored:
            _announce(stream_id, rows, result.created_ids, not_stored)
    return result


def _announce(stream_id: int, rows: list[dict], ids: list[int], not_stored: dict) -> None:
    """Within the batch's transaction: webhook outbox rows, the audit entry of the rules'
    decisions, and the one of what the rules kept out (counted by rule and type: nothing is
    discarded unrecorded).

    Lock order: the audit entry takes the audit chain's writer lock (a PostgreSQL advisory
    lock; on SQLite the database lock this IMMEDIATE transaction already holds) after this
    transaction's inserts and status update. An officer's decision takes its row lock, then
    the chain's lock, in the same order, and nothing takes the chain's lock first and a row
    lock second, so the two never wait on each other in a cycle."""
    name = StreamConfig.objects.filter(pk=stream_id).values_list("name", flat=True).first() or ""
    # Model instances only for the payloads of endpoints that want them (`enqueue` reads
    # its items only then).
    created = list(zip(ids, rows, strict=True))
    for summaries in (False, True):  # insight.* for suggestions and insights, summary.*
        mine = [
            (pk, row) for pk, row in created if (row["insight_type"] == SUMMARY_TYPE) == summaries
        ]
        if not mine:
            continue
        kind = SUMMARY_TYPE if summaries else "insight"
        outbox.enqueue_batch(
            f"{kind}.created",
            (outbox.row_data(pk, row, name) for pk, row in mine),
        )
        outbox.enqueue_batch(
            f"{kind}.approved",
            (
                outbox.row_data(pk, row, name)
                for pk, row in mine
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
        ports.governance().insights_auto_decided(
            stream_id=stream_id, stream_name=name, decisions=decisions
        )
    if not_stored:
        ports.governance().insights_not_stored(
            stream_id=stream_id,
            stream_name=name,
            counts=[
                {"rule": rule, "insight_type": kind, "count": n}
                for (rule, kind), n in sorted(not_stored.items())
            ],
        )


def _insight_values(stream_id: int, record: Accepted, stored_at: datetime) -> dict:
    """An insight's field values, by the names `INSIGHT_ROWS` writes."""
    received = from_timestamp(record.received_at)
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
        "corrected_text": "",
        "review_decision_id": "",
        "rule_version_id": record.rule_version_id,
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
        "corrected_text",
        "review_decision_id",
        "rule_version_id",
    ),
    key="external_id",
    unique=("stream_id", "external_id"),
)

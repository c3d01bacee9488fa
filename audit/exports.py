"""CSV exports: streamed in constant memory, UTF-8, ISO-8601 UTC times, formulas neutralised.

Rows are read in keyset pages (id > last id), so an export of a million rows holds one
page at a time and no database cursor between pages. The same generator serves the
browser download (through an async wrapper, for ASGI) and `export_csv`.

Pages are read as the database's own tuples (`RawPages`), with text neutralised and times
formatted by the database, so that most rows go to the csv writer untouched by Python. The
result is what `neutralise` gives for the ORM's values, byte for byte (a test compares the
two on every export, on both databases).
"""

import csv
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Case, F, Func, OuterRef, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from audit import blind
from audit.models import AuditEntry, ReasonCode
from audit.selectors import ReviewFilters
from audit.trail import ALL, TrailFilters
from audit.vocabulary import type_label_subquery
from streams.genesys.knowledge import Outcome
from streams.genesys.summaries import SUMMARY_TYPE
from streams.genesys.times import iso
from streams.models import Insight, KnowledgeQuery

BOM = "\ufeff"  # so that spreadsheet programs read the file as UTF-8
# Measured values (confidences, latencies in ms with microseconds) carry at most this many
# decimals; more would be binary float noise (51.193000000000005).
FLOAT_DECIMALS = 6
CHUNK_ROWS = 2000
# OWASP CSV injection: a cell starting with one of these may be run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value) -> str:
    """The cell text: empty for None, ISO for times, yes/no, floats without binary noise, a
    leading ' for anything formula-like."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = round(value, FLOAT_DECIMALS)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Export:
    name: str
    permission: str
    columns: tuple[tuple[str, str], ...]  # (header, field), the first field the primary key
    time_field: str
    # For an export with several rows per stored row: the stored row's fields to read, and
    # what turns one of them into its rows (already neutralised).
    expand: tuple[tuple[str, ...], object] | None = None

    @property
    def headers(self) -> list[str]:
        return [header for header, _ in self.columns]

    @property
    def fields(self) -> list[str]:
        return [field for _, field in self.columns]


INSIGHT_COLUMNS = (
    ("Insight id", "id"),
    ("Stream", "stream__name"),
    ("Interaction id", "interaction_id"),
    ("Insight type", "insight_type_label"),
    ("Insight type code", "insight_type"),
    ("Confidence", "confidence"),
    ("Relevance", "relevance_score"),
    ("Snippet", "snippet"),
    ("Corrected text", "corrected_text"),
    ("Status", "review_status"),
    ("Reviewed by", "reviewed_by__username"),
    ("Reviewed at", "reviewed_at"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Decided by rule", "review_rule"),
    ("Event time", "event_time"),
    ("Received at", "received_at"),
    ("Processing latency (ms)", "latency_ms"),
    ("External id", "external_id"),
    # A conversation summary's predicted wrap-up codes with their confidence, as Genesys
    # gave them (JSON); empty for other types.
    ("Predicted wrap-up codes", "summary_wrap_up_codes"),
)
DECISION_COLUMNS = (
    ("Insight id", "id"),
    ("Decision", "review_status"),
    ("Decided at", "reviewed_at"),
    ("Decided by", "reviewed_by__username"),
    ("Decided by rule", "review_rule"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Insight type", "insight_type_label"),
    ("Insight type code", "insight_type"),
    ("Confidence", "confidence"),
    ("Interaction id", "interaction_id"),
    ("Stream", "stream__name"),
    ("Snippet", "snippet"),
    ("Corrected text", "corrected_text"),
)
AUDIT_COLUMNS = (
    ("Entry id", "id"),
    ("Time", "created_at"),
    ("Actor", "actor_label"),
    ("Action", "action"),
    ("Object type", "object_type"),
    ("Object id", "object_id"),
    ("Object", "object_repr"),
    ("Before", "before"),
    ("After", "after"),
    ("Client address", "client_address"),
    ("Request id", "request_id"),
    ("Previous hash", "prev_hash"),
    ("Hash", "entry_hash"),
)

KNOWLEDGE_COLUMNS = (
    ("Query row", "id"),
    ("Time", "created_at"),
    ("Stream", "stream__name"),
    ("Query id", "query_id"),
    ("Conversation id", "conversation_id"),
    ("Query text", "query_text"),
    ("Origin", "origin"),
    ("Requested by", "requested_by"),
    ("Status", "status"),
    ("Governance status", "governance_status"),
    ("Results returned", "results_returned"),
    ("Results validated", "results_validated"),
    ("Cache hit", "cache_hit"),
    ("Latency (ms)", "latency_ms"),
    ("Attempts", "attempts"),
    ("Error code", "error_code"),
    ("Error message", "error_message"),
    ("Best confidence", "top_confidence"),
    ("Insight id", "insight_id"),
    ("Review status", "review_status"),
    ("Reviewed by", "reviewed_by__username"),
    ("Reviewed at", "reviewed_at"),
    ("Reason code", "review_reason_code"),
    ("Reason", "review_reason_label"),
    ("Note", "review_note"),
    ("Corrected text", "corrected_text"),
    ("Decided by rule", "review_rule"),
    ("Results", "results"),
)

RESULT_COLUMNS = (
    ("Query row", "id"),
    ("Time", "created_at"),
    ("Stream", "stream__name"),
    ("Query id", "query_id"),
    ("Query text", "query_text"),
    ("Rank", "rank"),
    ("Knowledge base", "knowledge_base_id"),
    ("Document id", "document_id"),
    ("Title", "title"),
    ("Confidence", "confidence"),
    ("Last updated", "last_updated"),
    ("Outcome", "outcome_label"),
    ("Outcome code", "outcome"),
    ("Reason", "reason"),
    ("URL", "url"),
)
RESULT_QUERY_FIELDS = ("id", "created_at", "stream__name", "query_id", "query_text", "results")


def result_rows(query: tuple) -> list[list[str]]:
    """One row per result of a knowledge query (none for a query without results)."""
    *fields, results = query
    head = [neutralise(value) for value in fields]
    rows = []
    for result in results or []:
        if not isinstance(result, dict):
            continue
        values = {**result, "outcome_label": Outcome.label_of(str(result.get("outcome", "")))}
        rows.append(head + [neutralise(values.get(field)) for _, field in RESULT_COLUMNS[5:]])
    return rows


EXPORTS = {
    "insights": Export("insights", "streams.view_insight", INSIGHT_COLUMNS, "received_at"),
    "decisions": Export("decisions", "streams.view_insight", DECISION_COLUMNS, "reviewed_at"),
    "audit": Export("audit", "audit.view_auditentry", AUDIT_COLUMNS, "created_at"),
    "knowledge": Export(
        "knowledge", "streams.view_knowledgequery", KNOWLEDGE_COLUMNS, "created_at"
    ),
    "knowledge-results": Export(
        "knowledge-results",
        "streams.view_knowledgequery",
        RESULT_COLUMNS,
        "created_at",
        expand=(RESULT_QUERY_FIELDS, result_rows),
    ),
}


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO-8601 time (UTC when it has no offset), within what the databases store."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{name} {value[:40]!r} is not an ISO-8601 time, such as 2026-11-30T09:00:00Z"
        ) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            f"{name} {value[:40]!r} is out of range: give a time between the years 1 and 9999"
        ) from None


def queryset_for(kind: str, params=None, *, blind_to: int | None = None):
    """The rows an export covers, from request or command parameters (ValidationError if bad);
    with `blind_to`, a decided-status filter leaves out what audit.blind hides from them."""
    params = params if params is not None else {}
    export = EXPORTS[kind]
    if kind == "audit":
        # The trail page's filters; since and until below, as for every export.
        trail_filters = TrailFilters.parse(
            {**dict(params.items()), "since": "", "until": ""}, default_category=ALL
        )
        queryset = trail_filters.apply(AuditEntry.objects.all())
        through = str(params.get("through") or "")
        if through:
            if not through.isdigit() or len(through) > 18:
                raise ValidationError(f"through {through[:20]!r} is not an entry number")
            queryset = queryset.filter(id__lte=int(through))
    elif kind.startswith("knowledge"):
        queryset = KnowledgeQuery.objects.all()
        if params.get("stream"):
            if len(params["stream"]) > 100:
                raise ValidationError("stream: a knowledge stream's name is 100 characters or less")
            queryset = queryset.filter(stream__name=params["stream"])
        review_status = params.get("review_status")
        if review_status:
            if review_status not in KnowledgeQuery.ReviewStatus.values:
                raise ValidationError(
                    f"review_status {review_status!r} is not one of "
                    + ", ".join(KnowledgeQuery.ReviewStatus.values)
                )
            queryset = queryset.in_status(review_status)
            if blind_to is not None and review_status != "pending":
                queryset = queryset.exclude(blind.hidden_q("knowledge", blind_to))
    else:
        filters = ReviewFilters.parse(params, default_status="all")
        filters = dataclasses.replace(filters, blind_to=blind_to)
        queryset = filters.apply(Insight.objects.all())
        if kind == "decisions":
            queryset = queryset.decided()
    since, until = (
        parse_time(params.get("since"), "since"),
        parse_time(params.get("until"), "until"),
    )
    if since and until and since > until:
        raise ValidationError("since is after until")

    if since:
        queryset = queryset.filter(**{f"{export.time_field}__gte": since})
    if until:
        queryset = queryset.filter(**{f"{export.time_field}__lt": until})
    return queryset


def with_labels(queryset, fields):
    """The words for the codes a row holds (its reason code's label, its insight type's
    label), for the label columns among `fields`; the codes keep their own columns."""
    labels = {}
    if "review_reason_label" in fields:
        reason = ReasonCode.objects.filter(code=OuterRef("review_reason_code")).values("label")
        labels["review_reason_label"] = Subquery(reason[:1])
    if "insight_type_label" in fields:
        labels["insight_type_label"] = Coalesce(type_label_subquery(), F("insight_type"))
    if "summary_wrap_up_codes" in fields:
        # Read from the payload of summaries only: other rows never parse their JSON.
        labels["summary_wrap_up_codes"] = Case(
            When(
                insight_type=SUMMARY_TYPE,
                then=Cast(KeyTextTransform("wrapUpCodes", "payload"), models.TextField()),
            ),
            default=Value(""),
            output_field=models.TextField(),
        )
    return queryset.annotate(**labels) if labels else queryset


def csv_chunks(
    kind: str, queryset, *, chunk_rows: int = CHUNK_ROWS, blind_to: int | None = None
) -> Iterator[str]:
    """The CSV text, header first, in chunks of up to `chunk_rows` rows; with `blind_to`,
    the decisions audit.blind hides from that viewer read as hidden."""
    export = EXPORTS[kind]
    yield BOM + _lines([export.headers])
    if queryset.query.is_empty():  # filters that can match nothing (a knowledge stream's id
        return  # for insights, say): the header alone
    if export.expand is not None:
        yield from _expanded_chunks(queryset, *export.expand, chunk_rows=chunk_rows)
        return
    queryset = with_labels(queryset, export.fields)
    queryset, fields = blind.masked_export(kind, queryset, export.fields, blind_to)
    pages = RawPages(queryset, fields)
    for rows in keyset_pages(queryset, lambda page: pages.read(page, chunk_rows)):
        yield _lines(rows)


def _expanded_chunks(queryset, fields, expand, *, chunk_rows: int) -> Iterator[str]:
    read = lambda page: list(page.values_list(*fields)[:chunk_rows])  # noqa: E731
    for stored in keyset_pages(queryset, read):
        rows = [row for query in stored for row in expand(query)]
        if rows:
            yield _lines(rows)


def keyset_pages(queryset, read, key=lambda row: row[0]) -> Iterator[list]:
    """`queryset` in primary-key order, a page at a time: `read(page)` reads one (a bounded
    query), `key(row)` is a row's primary key; the next page starts after the last row."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = read(page)
        if not rows:
            return
        yield rows
        last = key(rows[-1])


SQL_TIMES = ("sqlite", "postgresql")  # databases IsoTime formats for; others: Python


class IsoTime(Func):
    """A stored time as `iso` writes it, formatted by the database (SQLite, PostgreSQL)."""

    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores `str()` of the UTC time: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
        value, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"substr({value}, 1, 10) || 'T' || substr({value}, 12, 8) || '.' || "
            f"CASE WHEN length({value}) > 19 THEN substr({value}, 21, 3) ELSE '000' END || 'Z'"
        )
        return sql, (*params, *params, *params, *params)

    def as_postgresql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        return f"to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", params


class Neutralised(Func):
    """Text as `neutralise` writes it (a leading ' when it could start a formula),
    computed by the database."""

    output_field = models.TextField()

    def as_sql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        marks = ", ".join(["%s"] * len(FORMULA_STARTS))
        sql = f"CASE WHEN substr({value}, 1, 1) IN ({marks}) THEN %s || {value} ELSE {value} END"
        return sql, (*params, *FORMULA_STARTS, "'", *params, *params)


class RawPages:
    """Pages of an export as the database returns them, already written as `neutralise`
    would write them: text is neutralised and times formatted in SQL; Python looks only at
    numbers (a negative one is neutralised too) and at columns that need Django's
    converters (JSON, booleans, and times on other databases)."""

    TEXT = (models.CharField, models.TextField)
    NUMBER = (models.IntegerField, models.FloatField, models.AutoField, models.ForeignKey)

    def __init__(self, queryset, fields: list[str]):
        self.connection = connections[queryset.db]
        self.fields = fields
        self._plan = None

    def read(self, page, limit: int) -> list:
        if self._plan is None:
            self._plan = self._columns(page)
        columns, numbers, converted = self._plan
        compiler = page.values_list(*columns)[:limit].query.get_compiler(connection=self.connection)
        sql, params = compiler.as_sql()
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not (numbers or converted):
            return rows
        connection = self.connection
        out = []
        for row in rows:
            row = list(row)
            for index in numbers:
                value = row[index]
                if type(value) is float or not (value is None or value > 0 or value == 0):
                    row[index] = neutralise(value)
            for index, functions, expression in converted:
                value = row[index]
                for function in functions:
                    value = function(value, expression, connection)
                row[index] = neutralise(value)
            out.append(row)
        return out

    def _columns(self, page) -> tuple:
        """What each column is read as, and what Python still does to it."""
        compiler = page.values_list(*self.fields).query.get_compiler(connection=self.connection)
        compiler.setup_query()
        expressions = [expression for expression, _, _ in compiler.select]
        converters = compiler.get_converters(expressions)
        columns, numbers, converted = [], [], []
        for index, (name, expression) in enumerate(zip(self.fields, expressions, strict=True)):
            field = expression.output_field
            column = name
            if isinstance(field, models.DateTimeField) and self.connection.vendor in SQL_TIMES:
                column = IsoTime(F(name))
            elif isinstance(field, self.TEXT):
                column = Neutralised(F(name))
            elif isinstance(field, self.NUMBER):
                numbers.append(index)
            else:
                converted.append((index, *converters.get(index, ((), expression))))
            columns.append(column)
        return columns, tuple(numbers), tuple(converted)


async def csv_chunks_async(chunks: Iterator[str]) -> AsyncIterator[str]:
    """The chunks of a CSV, each read in a thread (for ASGI)."""
    while (chunk := await sync_to_async(next)(chunks, None)) is not None:
        yield chunk


def _lines(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def filename(kind: str) -> str:
    return f"assistgov-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv"

"""CSV files: streamed in constant memory, UTF-8, ISO-8601 UTC times, formulas neutralised.

Rows are read in keyset pages (id > last id), so an export of a million rows holds one
page at a time and no database cursor between pages. The same generator serves the
browser download (through an async wrapper, for ASGI) and the commands.

Pages are read as the database's own tuples (`RawPages`), with text neutralised and times
formatted by the database, so that most rows go to the csv writer untouched by Python. The
result is what `neutralise` gives for the ORM's values, byte for byte (a test compares the
two on every export, on both databases).

Each package describes its own files (`Export`); the audit trail's is here.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import F, Func

from audit.trail.models import AuditEntry
from audit.trail.pages import ALL, TrailFilters
from streams.genesys.times import iso

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


def csv_chunks(
    export: "Export",
    queryset,
    *,
    chunk_rows: int = CHUNK_ROWS,
    prepare: Callable | None = None,
) -> Iterator[str]:
    """The CSV text, header first, in chunks of up to `chunk_rows` rows. `prepare(queryset,
    fields)` gives the queryset and fields to read instead (labels, masks), if given."""
    yield BOM + _lines([export.headers])
    if queryset.query.is_empty():  # filters that can match nothing (a knowledge stream's id
        return  # for insights, say): the header alone
    if export.expand is not None:
        yield from _expanded_chunks(queryset, *export.expand, chunk_rows=chunk_rows)
        return
    fields = export.fields
    if prepare is not None:
        queryset, fields = prepare(queryset, fields)
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


# The audit trail as CSV.

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
AUDIT_EXPORT = Export("audit", "audit.view_auditentry", AUDIT_COLUMNS, "created_at")


def audit_queryset(params=None):
    """The entries an audit CSV covers: the trail page's filters, `since`/`until` as ISO
    times, and `through` (the newest entry it may hold); ValidationError when one is bad."""
    params = params if params is not None else {}
    filters = TrailFilters.parse(
        {**dict(params.items()), "since": "", "until": ""}, default_category=ALL
    )
    queryset = filters.apply(AuditEntry.objects.all())
    through = str(params.get("through") or "")
    if through:
        if not through.isdigit() or len(through) > 18:
            raise ValidationError(f"through {through[:20]!r} is not an entry number")
        queryset = queryset.filter(id__lte=int(through))
    return within(queryset, params, "created_at")


def within(queryset, params, time_field: str):
    """`queryset` narrowed to the parameters' `since` (inclusive) and `until` (exclusive)."""
    since = parse_time(params.get("since"), "since")
    until = parse_time(params.get("until"), "until")
    if since and until and since > until:
        raise ValidationError("since is after until")
    if since:
        queryset = queryset.filter(**{f"{time_field}__gte": since})
    if until:
        queryset = queryset.filter(**{f"{time_field}__lt": until})
    return queryset

"""CSV files: streamed in constant memory, UTF-8, ISO-8601 UTC times, formulas neutralised.

The cells are written by the database (`RawPages`): text neutralised, times formatted,
numbers signed and rounded in SQL. On PostgreSQL the whole file then streams from one
`COPY (SELECT ...) TO STDOUT`; on SQLite rows are read in keyset pages (id > last id), one
page at a time with no cursor held between pages, and go to the csv writer mostly untouched
by Python. Either way the file is what `neutralise` gives for the ORM's values, byte for
byte (tests compare the two on every export and on hostile rows, on both databases). The
same generator serves the browser download (through an async wrapper, for ASGI) and the
commands.

Each package describes its own files (`Export`); the audit trail's is here.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

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
    """The cell text: empty for None, ISO for times, yes/no, floats by `float_cell`, a
    leading ' for anything formula-like."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = float_cell(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


_ROUNDING = Context(prec=1000, rounding=ROUND_HALF_UP)
_STEP = Decimal(1).scaleb(-FLOAT_DECIMALS)


def float_cell(value: float) -> str:
    """A measured value as written: its 15 significant digits (as C's %.15g), rounded to
    FLOAT_DECIMALS decimals with halves away from zero, written as Python writes a float
    (3.0, 0.25, 1e-05), never as -0.0; from 1e15 on, as %.15g writes it (1e+15). PostgreSQL
    computes the same (`round(x::numeric, 6)::float8`, written with extra_float_digits 0),
    which lets its exports be written by COPY."""
    text = repr(value)
    digits = text.lstrip("-")
    if "e" not in digits and len(digits) <= 16 and len(digits) - digits.find(".") <= 7:
        return text if value else "0.0"  # already within the rule (most values)
    if value != value:
        return text
    if abs(value) >= 1e15:  # no decimals left to round: C's %.15g, as PostgreSQL writes it
        return format(value, ".15g")
    rounded = Decimal(format(value, ".15g")).quantize(_STEP, context=_ROUNDING)
    return repr(float(rounded) + 0.0)


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
    if pages.copyable:
        yield from pages.copy_chunks(queryset, chunk_rows)
        return
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
QUOTE = "''''"  # SQL for the text '


class IsoTime(Func):
    """A stored time as `iso` writes it, formatted by the database (SQLite, PostgreSQL)."""

    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores `str()` of the UTC time: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
        value, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"CASE WHEN length({value}) > 19 THEN replace(substr({value}, 1, 23), ' ', 'T') "
            f"|| 'Z' ELSE replace({value}, ' ', 'T') || '.000Z' END"
        )
        return sql, (*params, *params, *params)

    def as_postgresql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        return f"to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", params


class NeutralText(models.TextField):
    """The output field of text already neutralised in SQL (a label read by a subquery
    that neutralises it there, so that the subquery runs once per row)."""


class Neutralised(Func):
    """Text as `neutralise` writes it (a leading ' when it could start a formula),
    computed by the database."""

    output_field = NeutralText()

    # The code of the first character: cheaper than taking it as text (ascii() is
    # PostgreSQL's name for it, and gives the code point of any character).
    FIRST = {"sqlite": "unicode", "postgresql": "ascii"}
    CODES = ", ".join(str(ord(start)) for start in FORMULA_STARTS)

    def as_sql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        first = self.FIRST.get(connection.vendor)
        if first is None:
            marks = ", ".join(["%s"] * len(FORMULA_STARTS))
            test, test_params = f"substr({value}, 1, 1) IN ({marks})", (*params, *FORMULA_STARTS)
        else:
            test, test_params = f"{first}({value}) IN ({self.CODES})", params
        sql = f"CASE WHEN {test} THEN {QUOTE} || {value} ELSE {value} END"
        return sql, (*test_params, *params, *params)


class SignedNumber(Func):
    """A whole number as `neutralise` writes it: a negative one with a leading '."""

    output_field = models.TextField()

    def as_sqlite(self, compiler, connection, **extra):
        # Other numbers stay numbers: the csv writer writes them as str() does.
        value, params = compiler.compile(self.source_expressions[0])
        return f"CASE WHEN {value} < 0 THEN {QUOTE} || {value} ELSE {value} END", (*params,) * 3

    def as_postgresql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        return f"CASE WHEN {value} < 0 THEN {QUOTE} ELSE '' END || {value}::text", (*params,) * 2


class YesNo(Func):
    output_field = models.TextField()

    def as_sql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        return f"CASE WHEN {value} THEN 'yes' WHEN NOT {value} THEN 'no' END", (*params,) * 2


class FloatCell(Func):
    """A float as `float_cell` writes it, on SQLite: the values already within the rule
    (most of them) are written in SQL and the others left as floats for Python. (On
    PostgreSQL a COPY writes them: `RawPages.copy_chunks`.)"""

    output_field = models.FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite writes a real with 15 significant digits; when that text reads back as the
        # same number and has at most 6 decimals and no exponent, it is Python's repr.
        value, params = compiler.compile(self.source_expressions[0])
        text = f"CAST({value} AS TEXT)"
        sql = (
            f"CASE WHEN {value} = 0 THEN '0.0' "
            f"WHEN abs({value}) >= 0.0001 AND abs({value}) < 1e8 "
            f"AND CAST({text} AS REAL) = {value} "
            f"AND length({text}) - instr({text}, '.') <= {FLOAT_DECIMALS} "
            f"THEN CASE WHEN {value} < 0 THEN {QUOTE} ELSE '' END || {text} "
            f"ELSE {value} END"
        )
        return sql, (*params,) * 10


class RoundedFloat(Func):
    """PostgreSQL: the number `float_cell` writes, as PostgreSQL writes it (with
    extra_float_digits 0, as %.15g). x::numeric is x's 15 significant digits; between 1e-4
    and 1e15 Python writes that decimal as it is, so it is written as a decimal (cheaper than
    reading it back as a float); elsewhere it is read back as a float and written as one."""

    output_field = models.TextField()

    def as_sql(self, compiler, connection, **extra):
        value, params = compiler.compile(self.source_expressions[0])
        rounded = f"round({value}::numeric, {FLOAT_DECIMALS})"
        sql = (
            f"CASE WHEN abs({value}) >= 0.0001 AND abs({value}) < 1e15 "
            f"THEN trim_scale({rounded})::text ELSE ({rounded}::float8 + 0)::text END"
        )
        return sql, (*params,) * 4


# PostgreSQL: `float_cell`'s text from a RoundedFloat's, {t}, written with extra_float_digits
# 0 (%.15g). PostgreSQL writes whole numbers without ".0", and NaN and Infinity in words of
# its own. (The same rule, for a JSON value that is a number, is audit migration 0027's
# assistgov_csv_float.)
FLOAT_TEXT = (
    "CASE WHEN {t} IN ('NaN', 'Infinity', '-Infinity') "
    "THEN CASE {t} WHEN 'NaN' THEN 'nan' WHEN 'Infinity' THEN 'inf' ELSE '''-inf' END "
    "ELSE CASE WHEN left({t}, 1) = '-' THEN '''' ELSE '' END || {t} "
    "|| CASE WHEN strpos({t}, '.') + strpos({t}, 'e') = 0 THEN '.0' ELSE '' END END"
)


class JsonCell(Func):
    """A JSON value as `neutralise` writes it, in SQL (PostgreSQL: audit migration 0027)."""

    function = "assistgov_csv_json"
    output_field = models.TextField()


class Address(Func):
    """An IP address as Django reads it (PostgreSQL's inet, without its /32)."""

    function = "host"
    output_field = models.TextField()


class RawPages:
    """An export's rows as the database returns them, already written as `neutralise`
    would write them: text neutralised, times formatted and numbers signed in SQL; Python
    looks only at what SQL could not write (a float beyond SQLite's 15 digits; JSON and
    addresses on SQLite).

    On PostgreSQL every column is written in SQL, so the whole export streams from one
    `COPY (SELECT ...) TO STDOUT` (`copy_chunks`). Elsewhere rows are read in keyset pages
    (`read`)."""

    TEXT = (models.CharField, models.TextField)
    NUMBER = (models.IntegerField, models.AutoField, models.ForeignKey)

    def __init__(self, queryset, fields: list[str]):
        self.connection = connections[queryset.db]
        self.fields = fields
        self.columns, self.floats, self.converted = self._plan(queryset)
        self.copyable = self.connection.vendor == "postgresql" and not self.converted

    def read(self, page, limit: int) -> list:
        query = page.values_list(*self.columns)[:limit].query
        sql, params = query.get_compiler(connection=self.connection).as_sql()
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        floats, converted, connection = self.floats, self.converted, self.connection
        if not (floats or converted):
            return rows
        out = []
        for row in rows:
            if converted or any(type(row[index]) is float for index in floats):
                row = list(row)
                for index in floats:
                    if type(row[index]) is float:
                        row[index] = neutralise(row[index])
                for index, functions, expression in converted:
                    value = row[index]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[index] = neutralise(value)
            out.append(row)
        return out

    def copy_chunks(self, queryset, chunk_rows: int) -> Iterator[str]:
        """The rows from PostgreSQL's COPY, `chunk_rows` at a time, with lines ended as
        the csv writer ends them (CRLF). COPY sends one message per row, ending in LF; a
        line break inside a quoted cell is inside its message, so only a message's last
        byte ends a row. Empty text goes as NULL, which COPY writes as the csv writer
        writes an empty cell (nothing, where COPY would write "")."""
        inner = [
            RoundedFloat(column) if index in self.floats else column
            for index, column in enumerate(self.columns)
        ]
        query = queryset.order_by("pk").values_list(*inner).query
        sql, params = query.get_compiler(connection=self.connection).as_sql()
        names = [f"c{index}" for index in range(len(inner))]
        outer = ", ".join(
            FLOAT_TEXT.format(t=name) if index in self.floats else f"NULLIF({name}, '')"
            for index, name in enumerate(names)
        )
        # OFFSET 0 keeps the inner query whole, so that each float is rounded once.
        statement = (
            f"COPY (SELECT {outer} FROM ({sql} OFFSET 0) AS cells({', '.join(names)})) "  # noqa: S608 (Django-compiled SQL; its values are parameters)
            "TO STDOUT WITH (FORMAT csv)"
        )
        # The connection runs nothing else until COPY's last row, and a caller may query
        # between chunks (csv_download records the download after the first one). So the
        # first chunk is empty, after a check that the query runs, and COPY starts after it.
        with self.connection.cursor() as cursor:
            cursor.execute(f"{sql} LIMIT 0", params)
        yield ""
        with self.connection.cursor() as cursor:
            cursor.execute("SET extra_float_digits = 0")  # floats as %.15g (FLOAT_TEXT)
            try:
                with (
                    self.connection.wrap_database_errors,
                    cursor.cursor.copy(statement, params) as copy,
                ):
                    rows = []
                    for row in copy:
                        rows.append(row[:-1])
                        if len(rows) == chunk_rows:
                            yield _crlf(rows)
                            rows = []
                    if rows:
                        yield _crlf(rows)
            finally:
                cursor.execute("RESET extra_float_digits")

    def _plan(self, queryset) -> tuple[list, tuple, tuple]:
        """What each column is read as; the float columns SQL may leave to Python; and the
        columns Python converts (those SQL cannot write here)."""
        query = queryset.values_list(*self.fields).query
        compiler = query.get_compiler(connection=self.connection)
        compiler.setup_query()
        expressions = [expression for expression, _, _ in compiler.select]
        converters = compiler.get_converters(expressions)
        postgres = self.connection.vendor == "postgresql"
        columns, floats, converted = [], [], []
        for index, (name, expression) in enumerate(zip(self.fields, expressions, strict=True)):
            field = expression.output_field
            column = F(name)
            if isinstance(field, NeutralText):
                pass
            elif isinstance(field, models.DateTimeField) and self.connection.vendor in SQL_TIMES:
                column = IsoTime(column)
            elif isinstance(field, models.BooleanField):
                column = YesNo(column)
            elif isinstance(field, self.TEXT):
                column = Neutralised(column)
            elif isinstance(field, self.NUMBER):
                column = SignedNumber(column)
            elif isinstance(field, models.FloatField):
                column = column if postgres else FloatCell(column)
                floats.append(index)
            elif postgres and isinstance(field, models.JSONField):
                column = JsonCell(column)
            elif postgres and isinstance(field, models.GenericIPAddressField):
                column = Neutralised(Address(column))
            else:
                converted.append((index, *converters.get(index, ((), expression))))
            columns.append(column)
        return columns, tuple(floats), tuple(converted)


def _crlf(rows: list) -> str:
    return (b"\r\n".join(rows) + b"\r\n").decode()


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

"""Every export is written in SQL where it can be (on PostgreSQL, the whole file by one
COPY), and must still be, byte for byte, what the Python writer makes of the ORM's values:
hostile text, floats of every size, JSON of every shape, addresses. Runs on both databases."""

import math
import random

import pytest
from django.db import connection
from django.utils import timezone

from audit.review.exports import EXPORTS, chunks, queryset_for, with_labels
from audit.trail.csvfiles import RawPages, _lines, float_cell, neutralise
from audit.trail.record import Origin, audit_record
from streams.models import Insight
from tests.factories import make_insight, make_stream

pytestmark = pytest.mark.django_db

HOSTILE_TEXT = [
    "",
    " ",
    "plain",
    'a "quoted" word, and a comma',
    '"',
    "line one\r\nline two",
    "a bare\rreturn",
    "a bare\nnewline",
    "\\.",  # COPY's end-of-data marker, alone on a line
    '=HYPERLINK("http://x")',
    "+1",
    "-1",
    "@x",
    "\tx",
    "\rx",
    "\nx",
    "'already quoted",
    "Ünïcode ✓ and 🎉",
    "NULL",
    "trailing space ",
]

FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    3.0,
    0.5,
    0.1 + 0.2,
    51.193000000000005,
    0.123456789,
    -0.123456789,
    0.0000005,
    -0.0000005,
    0.0000004,
    0.0078125,
    2.675,
    1.0000005,
    0.00005,
    0.0001,
    0.00012,
    1e-7,
    1e8,
    99999999.999999,
    123456789.123456,
    1e15,
    1.2345678901234567e15,
    -1e15,
    1e16,
    1.5e17,
    1e300,
    -1e300,
    5e-324,
    math.inf,
    -math.inf,
    math.nan,
]


def _random_floats(rng: random.Random, count: int) -> list[float]:
    values = []
    for _ in range(count):
        magnitude = 10 ** rng.randint(-9, 17)
        value = rng.uniform(-1, 1) * magnitude
        values.append(round(value, rng.randint(0, 9)) if rng.random() < 0.5 else value)
    return values


def _python_file(kind: str) -> str:
    export = EXPORTS[kind]
    orm = with_labels(queryset_for(kind), export.fields).order_by("pk")
    rows = [[neutralise(value) for value in row] for row in orm.values_list(*export.fields)]
    return "\ufeff" + _lines([export.headers, *rows])


def _stored(value: float) -> bool:
    # SQLite has no NaN (it stores NULL), so it is left to PostgreSQL.
    return not (connection.vendor == "sqlite" and math.isnan(value))


def test_hostile_text_and_floats_of_every_size_are_written_as_python_writes_them():
    stream = make_stream(name="stream-1")
    floats = [value for value in FLOATS + _random_floats(random.Random(7), 600) if _stored(value)]
    texts = HOSTILE_TEXT * (len(floats) // len(HOSTILE_TEXT) + 1)
    now = timezone.now()
    for number, (text, value) in enumerate(zip(texts, floats, strict=False)):
        Insight.objects.create(
            stream=stream,
            external_id=f"evt-{number}",
            interaction_id=text or "i",
            insight_type="knowledge_recommendation",
            snippet=text,
            review_note=text[::-1],
            confidence=value,
            relevance_score=-value,
            latency_ms=value,
            payload={},
            received_at=now,
        )
    for kind in ("insights", "decisions"):
        assert "".join(chunks(kind, queryset_for(kind), chunk_rows=97)) == _python_file(kind)


def _random_json(rng: random.Random, depth: int = 0):
    kinds = ["str", "int", "float", "bool", "none"] + (["dict", "list"] * 2 if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "dict":
        keys = rng.sample(
            ["b", "a", "é", "Z", "aa", "a\n", "10", "9", "-x", "=y", "", "🎉"], rng.randint(0, 5)
        )
        return {key: _random_json(rng, depth + 1) for key in keys}
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "str":
        return rng.choice([*HOSTILE_TEXT, "x\x01y", "tab\there", "back\\slash", "/"])
    if kind == "int":
        return rng.choice([0, -3, 7, 2**40, -(2**70)])
    if kind == "float":
        # Floats of 2**53 and more are left out, as audit migration 0027 says.
        value = rng.choice([*_random_floats(rng, 1), 1.0, 2.5, 1e-07, 0.1 + 0.2, -0.0])
        return value if abs(value) < 2**53 else 1.25
    if kind == "bool":
        return rng.random() < 0.5
    return None


def test_json_of_every_shape_and_addresses_are_written_as_python_writes_them():
    rng = random.Random(11)
    tops = [None, "-x", "=y", "", "plain", -3, 4, 2.5, -0.125, 0.123456789, True, False, [], {}]
    addresses = [None, "192.0.2.1", "2001:db8::1", "::1", "::ffff:192.0.2.1"]
    values = tops + [_random_json(rng) for _ in range(300)]
    for number, value in enumerate(values):
        audit_record(
            action="test.entry",
            actor_label="=actor" if number % 3 == 0 else "robot",
            object_repr=HOSTILE_TEXT[number % len(HOSTILE_TEXT)],
            before=value if number % 2 else None,  # any JSON value, not only an object
            after={"value": value} if number % 3 else None,
            origin=Origin(client_address=addresses[number % len(addresses)]),
        )
    assert "".join(chunks("audit", queryset_for("audit"), chunk_rows=50)) == _python_file("audit")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (0.0, "0.0"),
        (-0.0, "0.0"),  # no negative zero
        (3.0, "3.0"),
        (0.1 + 0.2, "0.3"),
        (51.193000000000005, "51.193"),
        (-0.123456789, "-0.123457"),
        (0.0000005, "1e-06"),  # halves away from zero, on the 15 digits...
        (-0.0000005, "-1e-06"),
        (0.0078125, "0.007813"),  # ...not on the binary value (round() would give 0.007812)
        (1.0000005, "1.000001"),
        (0.0000004, "0.0"),
        (0.00005, "5e-05"),  # as Python writes a float
        (123456789012345.6, "123456789012346.0"),  # 15 significant digits
        (1e15, "1e+15"),  # from 1e15, as C's %.15g writes it
        (9.961833733398701e16, "9.9618337333987e+16"),
        (math.inf, "inf"),
        (math.nan, "nan"),
    ],
)
def test_float_cell_keeps_fifteen_digits_and_six_decimals(value, cell):
    assert float_cell(value) == cell


@pytest.mark.parametrize("kind", ["insights", "decisions", "knowledge", "audit"])
def test_on_postgresql_the_exports_stream_from_one_copy(kind):
    export = EXPORTS[kind]
    queryset = with_labels(queryset_for(kind), export.fields)
    pages = RawPages(queryset, export.fields)
    assert pages.copyable == (connection.vendor == "postgresql")


def test_a_download_stopped_part_way_leaves_the_connection_usable():
    stream = make_stream(name="stream-1")
    for number in range(30):
        make_insight(stream=stream, external_id=f"e-{number}")
    pieces = chunks("insights", queryset_for("insights"), chunk_rows=5)
    next(pieces), next(pieces)
    pieces.close()  # the client went away
    # The same connection answers the next query, and the next export is whole.
    assert Insight.objects.count() == 30
    assert "".join(chunks("insights", queryset_for("insights"))) == _python_file("insights")

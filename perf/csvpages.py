"""CSV and pages: `export_csv insights` (a process of its own: rows/s and its peak RSS)
against the sqlite3 command line's CSV mode, or PostgreSQL's `COPY ... TO STDOUT CSV`; and
the admin insight changelist and the review queue snapshot over the same rows."""

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid

from assistgov import memory
from perf.runner import MANAGE, ratio, scratch_config

KEYS = (
    "csv_rows_per_s",
    "csv_startup_s",
    "csv_peak_rss_mb",
    "csv_ceiling_rows_per_s",
    "csv_ratio",
    "changelist_ms",
    "review_snapshot_ms",
    "search_ms",
)

# What the filled insights say (one theme each, in turn), and what the search looks for:
# a word or two in one row in ten (common: not ranked, see audit.review.search), a policy
# number in one in five hundred (ranked).
THEMES = (
    "offer the 30-day refund under policy",
    "the customer reports a lost card; block it and order a replacement card",
    "complaint about the branch: escalate it to a supervisor",
    "remind the customer that calls are recorded",
    "mortgage overpayments are free up to ten percent a year",
    "read the fraud warning before any transfer to a new payee",
    "the customer asks about overdraft charges on the current account",
    "explain the savings rate change from next month",
    "confirm the address before sending a new statement",
    "the agent promised a call back within two working days",
)
SEARCHES = ("refunds", "lost cards", "supervisors complaint", "policy KB-170")


def measure(rows: int) -> dict:
    from django.db import connection

    fill(rows)
    # The ceiling reads exactly what the export reads: the same query, as SQL.
    sql = literal_sql(*export_query().sql_with_params(), connection)
    figures = {}
    figures["csv_rows_per_s"], figures["csv_peak_rss_mb"], figures["csv_startup_s"] = _export_run(
        rows
    )
    started = time.perf_counter()
    if connection.vendor == "sqlite":
        db = connection.settings_dict["NAME"]
        with open(os.devnull, "wb") as sink:
            subprocess.run([_sqlite3(), "-csv", str(db), sql], stdout=sink, check=True)
    else:
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor().copy(f"COPY ({sql}) TO STDOUT CSV") as copy,
        ):
            for _ in copy:
                pass
    figures["csv_ceiling_rows_per_s"] = round(rows / (time.perf_counter() - started), 1)
    figures["csv_ratio"] = ratio(figures["csv_rows_per_s"], figures["csv_ceiling_rows_per_s"])
    figures["changelist_ms"], figures["review_snapshot_ms"], figures["search_ms"] = _pages()
    return figures


def export_query():
    """The query `export_csv insights` runs over every row (one page of it, unbounded)."""
    from audit.review.exports import EXPORTS, queryset_for, with_labels

    fields = EXPORTS["insights"].fields
    queryset = with_labels(queryset_for("insights", {}), fields)
    return queryset.order_by("pk").values_list(*fields).query


def literal_sql(sql: str, params, connection) -> str:
    """`sql` with its parameters written in, for the database's own command line (`sqlite3
    -csv`) or `COPY (...) TO STDOUT`, which take no parameters."""
    if not params:
        return sql
    if connection.vendor == "postgresql":
        import psycopg

        with connection.cursor() as cursor:
            return psycopg.ClientCursor(cursor.connection).mogrify(sql, params)
    return sql % tuple(_sqlite_literal(value) for value in params)


def _sqlite_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _sqlite3() -> str:
    found = shutil.which("sqlite3")
    if found is None:
        raise RuntimeError("the CSV ceiling needs the sqlite3 command line (apt install sqlite3)")
    return found


def fill(rows: int, decided_every: int | None = 10) -> None:
    """`rows` insights over 4 streams and 5 types, one in `decided_every` decided (none
    with None), written by ingestion's own writer (so stored as the product stores them)."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    from streams.ingest.store import INSIGHT_ROWS
    from streams.models import StreamConfig

    connection_row, matrix = scratch_config("http://127.0.0.1:1")  # never connected
    streams = [
        StreamConfig.objects.create(
            name=f"bench-{n}", connection=connection_row, confidence_matrix=matrix
        ).pk
        for n in range(4)
    ]
    rng = random.Random(7)
    types = ("knowledge_recommendation", "sentiment_alert", "compliance_flag", "intent", "script")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 10_000
    for offset in range(0, rows, chunk):
        batch = []
        for n in range(offset, min(rows, offset + chunk)):
            confidence = round(rng.random(), 3)
            when = start + timedelta(milliseconds=n * 50, microseconds=n % 1000)
            text = f"Insight {n}: {THEMES[n % len(THEMES)]} KB-{n % 500}"
            decided = decided_every is not None and n % decided_every == decided_every - 1
            batch.append(
                {
                    "stream_id": streams[n % 4],
                    "external_id": f"evt-{n:09d}",
                    "interaction_id": f"interaction-{n % 5000}",
                    "insight_type": types[n % 5],
                    "confidence": confidence,
                    "relevance_score": confidence,
                    "snippet": text,
                    "payload": {"type": "agentassist.insight", "content": {"text": text}},
                    "event_time": when,
                    "received_at": when,
                    "latency_ms": 3.0,
                    "review_status": "approved" if decided else "pending",
                    "reviewed_at": when + timedelta(seconds=30) if decided else None,
                    "review_rule": "",
                    "review_reason_code": "",
                    "review_note": "",
                    "corrected_text": "",
                    "review_decision_id": "",
                    "rule_version_id": None,
                }
            )
        with transaction.atomic():
            INSIGHT_ROWS.insert(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:  # as a stream worker does every hour
        from streams.searchindex import refresh_statistics

        refresh_statistics()


def _export_run(rows: int) -> tuple[float, float, float]:
    """`export_csv insights` in a process of its own: rows/s, its peak RSS in MB, and the
    seconds a process takes to start and write an empty export (Python and Django loading,
    measured in the same run), which the rate leaves out: a browser download does not pay
    it, and at 100,000 rows it would be most of the time."""
    startup, _ = _export_process(["--until", "2000-01-01T00:00:00Z"])
    elapsed, peak_mb = _export_process([])
    return round(rows / max(elapsed - startup, 1e-3), 1), peak_mb, round(startup, 2)


def _export_process(options: list[str]) -> tuple[float, float]:
    """Seconds, and the peak memory the command reports for itself (the wait's rusage
    would count this process's own, from which it was forked)."""
    started = time.perf_counter()
    command = [sys.executable, str(MANAGE), "export_csv", "insights", "-o", os.devnull]
    process = subprocess.run(
        [*command, "-v", "2", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"export_csv failed: {process.stderr.strip()[-300:]}")
    peak = re.search(memory.PATTERN, process.stderr)
    if peak is None:
        raise RuntimeError(f"export_csv did not report its memory: {process.stderr[-300:]}")
    return elapsed, float(peak.group(1))


def _pages() -> tuple[float, float, float]:
    """Median wall time (ms) of the admin insight changelist, of the review snapshot, and of
    the slowest of SEARCHES (the review page's first page of a search as it asks for it,
    best match first, with its count)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from audit.review.queue import SORTS, review_page, review_queue
    from audit.review.selectors import ReviewFilters

    user = get_user_model().objects.create_superuser("bench", password=uuid.uuid4().hex)
    client = Client()
    client.force_login(user)

    def timed(action) -> float:
        action()  # warm up
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            action()
            samples.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(samples), 1)

    # The page, not the static files: without collectstatic there is no manifest.
    plain_static = override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )

    @plain_static
    def changelist():
        response = client.get("/admin/streams/insight/")
        if response.status_code != 200:
            raise RuntimeError(f"the changelist answered {response.status_code}")

    searches = [
        timed(
            lambda words=words: review_page(
                ReviewFilters.parse({"search": words}), sort=SORTS["relevance"]
            )
        )
        for words in SEARCHES
    ]
    return timed(changelist), timed(lambda: review_queue(ReviewFilters())), max(searches)

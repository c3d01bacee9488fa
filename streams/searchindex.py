"""The review queue's full-text indexes on SQLite, as stored (migration streams 0025: FTS5
tables over the item tables, kept by triggers), and their upkeep. audit.review.search reads
them; PostgreSQL searches through GIN indexes instead and needs none of this."""

from django.db import connection

INSIGHTS = "insight_search"
KNOWLEDGE_ANSWERS = "knowledge_search"
# The tables whose items they index.
INDEXED = {INSIGHTS: "streams_insight", KNOWLEDGE_ANSWERS: "streams_knowledgequery"}

# SQLite's planner needs to know how many items share a status to start a search from the
# search index rather than the queue's: these tables' statistics are refreshed this often
# (a stream worker task), each from a sample, quick on any size.
STATISTICS_SECONDS = 3600.0
SAMPLED_ROWS = 1000


def refresh_statistics(stop=None) -> None:
    """Refresh SQLite's planner statistics on the searched tables."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit = {SAMPLED_ROWS}")
        for table in INDEXED.values():
            cursor.execute(f"ANALYZE {table}")


def forget_removed_words() -> None:
    """Rewrite the search indexes so the words of erased or purged texts leave them: FTS5
    marks a removed row's words deleted and keeps the old pages until it merges them.
    (PostgreSQL's GIN index loses a row's old entries when vacuumed.)"""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table in INDEXED:
            # FTS5's own command, written as an insert into the table's hidden column.
            cursor.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")  # noqa: S608

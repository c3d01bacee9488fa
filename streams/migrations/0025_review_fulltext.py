"""The review queue's full-text search, with stemming ("cards" finds "card numbers"), over
what officers search: an item's text, its correction and its reviewer's note.

PostgreSQL: a GIN index on the same `SearchVector` the queue searches
(audit.review.search.vector), built by Django so the two expressions are the same.
SQLite: an FTS5 table with the Porter stemmer over the item table's columns (external
content: the words are indexed, the text is not copied), kept current by triggers. SQLite
drops a table's triggers when a later migration rebuilds the table; the search tests run on
the migrated schema, so such a migration fails them until it recreates these."""

import django.db.models.deletion
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models

import streams.reviewable

CONFIG = "english"
# (model, table, index or FTS5 table, columns searched)
SEARCHED = (
    ("Insight", "streams_insight", "insight_search", ("snippet", "corrected_text", "review_note")),
    (
        "KnowledgeQuery",
        "streams_knowledgequery",
        "knowledge_search",
        ("query_text", "corrected_text", "review_note"),
    ),
)
# What 0012 indexed on PostgreSQL: the text alone, without stemming.
OLD_INDEXES = ("insight_snippet_fulltext", "knowledge_query_text_fulltext")


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for model_name, table, name, columns in SEARCHED:
        if vendor == "postgresql":
            model = apps.get_model("streams", model_name)
            index = GinIndex(SearchVector(*columns, config=CONFIG), name=name)
            schema_editor.add_index(model, index)
        elif vendor == "sqlite":
            for statement in sqlite_statements(table, name, columns):
                schema_editor.execute(statement)
            # The planner's statistics, from a sample (audit.review.search refreshes them).
            schema_editor.execute("PRAGMA analysis_limit = 1000")
            schema_editor.execute(f"ANALYZE {table}")
    if vendor == "postgresql":
        for old in OLD_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {old}")


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for _, table, name, _ in SEARCHED:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        elif vendor == "sqlite":
            for trigger in ("insert", "delete", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {name}")


def sqlite_statements(table: str, name: str, columns: tuple[str, ...]) -> list[str]:
    listed = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    add = f"INSERT INTO {name}(rowid, {listed}) VALUES (new.id, {new});"
    remove = f"INSERT INTO {name}({name}, rowid, {listed}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE VIRTUAL TABLE {name} USING fts5({listed}, content='{table}', "
        f"content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {listed} ON {table} "
        f"BEGIN {remove} {add} END",
        f"INSERT INTO {name}({name}) VALUES ('rebuild')",
    ]


class Migration(migrations.Migration):
    dependencies = [("streams", "0024_knowledge_origin_words")]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
        # The FTS5 tables as Django sees them (unmanaged: made above, on SQLite only).
        *(
            migrations.CreateModel(
                name=f"{model_name}SearchEntry",
                fields=[
                    (
                        "item",
                        models.OneToOneField(
                            db_column="rowid",
                            db_constraint=False,
                            on_delete=django.db.models.deletion.DO_NOTHING,
                            primary_key=True,
                            related_name="search_entry",
                            serialize=False,
                            to=f"streams.{model_name.lower()}",
                        ),
                    ),
                    ("document", streams.reviewable.SearchDocument(db_column=table)),
                    ("rank", models.FloatField()),
                ],
                options={"db_table": table, "managed": False},
            )
            for model_name, _, table, _ in SEARCHED
        ),
    ]

from django.db import migrations

# The review queue's search on PostgreSQL: full-text indexes on what officers search.
INDEXES = (
    ("insight_snippet_fulltext", "streams_insight", "snippet"),
    ("knowledge_query_text_fulltext", "streams_knowledgequery", "query_text"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin (to_tsvector('simple'::regconfig, {column}))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("streams", "0011_workspace")]

    operations = [migrations.RunPython(create, drop)]

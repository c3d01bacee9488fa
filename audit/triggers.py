"""Database triggers that make the audit table append-only, for SQLite and PostgreSQL
(UPDATE and DELETE on both; TRUNCATE too on PostgreSQL, where SQLite has none).

One narrow exception: a DELETE of entries up to the id of a purge permit (a row in
audit_purgepermit), which only the retention purge writes, and removes, in the transaction
that also writes the checkpoint entry (audit.retention). UPDATE and TRUNCATE have none.

Used by the migration that installs them and by `flush`, which must empty every table.
"""

TABLE = "audit_auditentry"
PERMITS = "audit_purgepermit"
MESSAGE = "audit entries are append-only"
PERMITTED = f"OLD.id <= (SELECT COALESCE(MAX(up_to_id), 0) FROM {PERMITS})"  # noqa: S608

SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON {TABLE} "
    f"WHEN NOT ({PERMITTED}) BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
]
POSTGRESQL_CREATE = [
    f"""CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
        IF {PERMITTED} THEN RETURN OLD; END IF;
      END IF;
      RAISE EXCEPTION '{MESSAGE}';
    END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
    f"CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    # Row triggers do not see TRUNCATE, which would empty the table in one statement.
    f"DROP TRIGGER IF EXISTS audit_entry_no_truncate ON {TABLE}",
    f"CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_entry_no_truncate ON {TABLE}",
]

STATEMENTS = {
    "sqlite": (SQLITE_CREATE, SQLITE_DROP),
    "postgresql": (POSTGRESQL_CREATE, POSTGRESQL_DROP),
}


def _run(connection, statements) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(connection) -> None:
    create, _ = STATEMENTS.get(connection.vendor, ([], []))
    _run(connection, create)


def remove(connection) -> None:
    _, drop = STATEMENTS.get(connection.vendor, ([], []))
    _run(connection, drop)

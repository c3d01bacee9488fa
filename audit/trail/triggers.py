"""Database triggers that make the audit table append-only, for SQLite and PostgreSQL
(UPDATE and DELETE on both; TRUNCATE too on PostgreSQL, where SQLite has none).

One narrow exception: a DELETE of entries inside the range of a purge permit. A permit is
itself append-only, and the database accepts one only as the retention purge writes it
(audit.trail.retention), in the transaction that first writes the purge's checkpoint entry:

- the permit names that checkpoint, which must be the chain's newest entry, an audit
  purge checkpoint whose `first_id` and `last_id` are the permit's range;
- the range starts at the chain's oldest entry and ends before the checkpoint.

So whoever can only write to the database cannot cut the newest entries off the chain:
a permit needs a checkpoint above its range, and a checkpoint written without the HMAC key
breaks the chain where it stands (it can never be removed, being above every permit). What
someone who can drop triggers can do, and how published checkpoints catch it, is in the
README ("What the audit chain proves").

Used by the migrations that install them and by `flush`, which must empty every table."""

TABLE = "audit_auditentry"
PERMITS = "audit_purgepermit"
MESSAGE = "audit entries are append-only"


PERMIT_MESSAGE = (
    "a purge permit must name the audit purge checkpoint just written for it, "
    "over a range from the oldest entry"
)


PERMITS_APPEND_ONLY = "purge permits are append-only"
PERMITTED = f"EXISTS (SELECT 1 FROM {PERMITS} p WHERE OLD.id BETWEEN p.first_id AND p.up_to_id)"  # noqa: S608


# The checkpoint an audit purge writes (audit.trail.chain.PURGE_ACTION, PURGE_OBJECT).
CHECKPOINT = (
    "e.action = 'retention.purge' AND e.object_type = 'retention' AND e.object_id = 'audit'"
)


def _permit_valid(first: str, last: str) -> str:
    """The condition a new permit meets, with the SQL that reads a checkpoint's first and
    last ids from its JSON."""
    return (
        f"NEW.checkpoint_id = (SELECT MAX(id) FROM {TABLE}) "  # noqa: S608 (no input in it)
        f"AND NEW.first_id = (SELECT MIN(id) FROM {TABLE}) "
        "AND NEW.first_id <= NEW.up_to_id AND NEW.up_to_id < NEW.checkpoint_id "
        f"AND EXISTS (SELECT 1 FROM {TABLE} e WHERE e.id = NEW.checkpoint_id AND {CHECKPOINT} "
        f"AND {first} = NEW.first_id AND {last} = NEW.up_to_id)"
    )


SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON {TABLE} "
    f"WHEN NOT ({PERMITTED}) BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]


SQLITE_CREATE_PERMITS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_permit_checked BEFORE INSERT ON {PERMITS} "
    "WHEN NOT ("
    + _permit_valid("json_extract(e.after, '$.first_id')", "json_extract(e.after, '$.last_id')")
    + f") BEGIN SELECT RAISE(ABORT, '{PERMIT_MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_permit_no_update BEFORE UPDATE ON {PERMITS} "
    f"BEGIN SELECT RAISE(ABORT, '{PERMITS_APPEND_ONLY}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_permit_no_delete BEFORE DELETE ON {PERMITS} "
    f"BEGIN SELECT RAISE(ABORT, '{PERMITS_APPEND_ONLY}'); END",
]


SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
    "DROP TRIGGER IF EXISTS audit_permit_checked",
    "DROP TRIGGER IF EXISTS audit_permit_no_update",
    "DROP TRIGGER IF EXISTS audit_permit_no_delete",
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


POSTGRESQL_CREATE_PERMITS = [
    f"""CREATE OR REPLACE FUNCTION audit_permit_guard() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF {
        _permit_valid("(e.after ->> 'first_id')::bigint", "(e.after ->> 'last_id')::bigint")
    } THEN RETURN NEW; END IF;
        RAISE EXCEPTION '{PERMIT_MESSAGE}';
      END IF;
      RAISE EXCEPTION '{PERMITS_APPEND_ONLY}';
    END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_permit_guard ON {PERMITS}",
    f"CREATE TRIGGER audit_permit_guard BEFORE INSERT OR UPDATE OR DELETE ON {PERMITS} "
    "FOR EACH ROW EXECUTE FUNCTION audit_permit_guard()",
    f"DROP TRIGGER IF EXISTS audit_permit_no_truncate ON {PERMITS}",
    f"CREATE TRIGGER audit_permit_no_truncate BEFORE TRUNCATE ON {PERMITS} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_permit_guard()",
]


POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_entry_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_permit_guard ON {PERMITS}",
    f"DROP TRIGGER IF EXISTS audit_permit_no_truncate ON {PERMITS}",
]


STATEMENTS = {
    "sqlite": (SQLITE_CREATE, SQLITE_CREATE_PERMITS, SQLITE_DROP),
    "postgresql": (POSTGRESQL_CREATE, POSTGRESQL_CREATE_PERMITS, POSTGRESQL_DROP),
}


def _run(connection, statements) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _permits_named(connection) -> bool:
    """Whether the permits table has its checkpoint column yet: earlier migrations install
    the entries' triggers before it exists."""
    with connection.cursor() as cursor:
        if PERMITS not in connection.introspection.table_names(cursor):
            return False
        columns = connection.introspection.get_table_description(cursor, PERMITS)
    return any(column.name == "checkpoint_id" for column in columns)


def install(connection) -> None:
    create, create_permits, _ = STATEMENTS.get(connection.vendor, ([], [], []))
    _run(connection, create)
    if create_permits and _permits_named(connection):
        _run(connection, create_permits)


def remove(connection) -> None:
    _, _, drop = STATEMENTS.get(connection.vendor, ([], [], []))
    _run(connection, drop)

"""Database triggers that make the audit table append-only, for SQLite and PostgreSQL
(UPDATE and DELETE on both; TRUNCATE too on PostgreSQL, where SQLite has none).

One narrow exception: a DELETE of entries inside the range of a purge permit. A permit is
itself append-only, and the database accepts one only as the retention purge writes it
(audit.trail.retention), in the transaction that first writes the purge's checkpoint entry:

- the permit names that checkpoint, which must be the chain's newest entry, an audit
  purge checkpoint whose `first_id` and `last_id` are the permit's range;
- the range starts at the chain's oldest entry and ends before the checkpoint.

A second, as narrow: an UPDATE of entries inside the range of a re-chaining permit, while
that permit's checkpoint is the chain's newest entry, changing only what an entry says
(object, before, after) and its link, hash and seal, never who, what action or when. The
database accepts such a permit only naming the newest entry, a `privacy.redact_trail`
checkpoint whose `first_id` and `last_id` are the permit's range (audit.privacy.rechain,
which takes personal data out of entries earlier versions wrote and appends a closing entry
in the same transaction, so the window shuts before anyone else writes).

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
RECHAINS = "audit_rechainpermit"
RECHAIN_MESSAGE = (
    "a re-chaining permit must name the privacy.redact_trail checkpoint just written for it"
)
RECHAINS_APPEND_ONLY = "re-chaining permits are append-only"
# An UPDATE of an entry a re-chaining permit covers, while its checkpoint is the newest
# entry, that keeps who, what and when.
RECHAIN_PERMITTED = (
    f"EXISTS (SELECT 1 FROM {RECHAINS} r WHERE OLD.id BETWEEN r.first_id AND r.up_to_id "  # noqa: S608
    f"AND r.checkpoint_id = (SELECT MAX(id) FROM {TABLE})) "
    "AND NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND NEW.action = OLD.action "
    "AND NEW.object_type = OLD.object_type AND NEW.object_id = OLD.object_id "
    "AND NEW.actor_label = OLD.actor_label "
    "AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id"
)
RECHAIN_CHECKPOINT = "e.action = 'privacy.redact_trail' AND e.object_type = 'audit.trail.chain'"
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


def _rechain_valid(first: str, last: str) -> str:
    """The condition a new re-chaining permit meets (as `_permit_valid`, for the
    re-chaining checkpoint, over any range below it)."""
    return (
        f"NEW.checkpoint_id = (SELECT MAX(id) FROM {TABLE}) "  # noqa: S608 (no input in it)
        "AND NEW.first_id <= NEW.up_to_id AND NEW.up_to_id < NEW.checkpoint_id "
        f"AND EXISTS (SELECT 1 FROM {TABLE} e WHERE e.id = NEW.checkpoint_id "
        f"AND {RECHAIN_CHECKPOINT} AND {first} = NEW.first_id AND {last} = NEW.up_to_id)"
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


SQLITE_CREATE_RECHAINS = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    f"CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON {TABLE} "
    f"WHEN NOT ({RECHAIN_PERMITTED.replace('IS NOT DISTINCT FROM', 'IS')}) "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_rechain_checked BEFORE INSERT ON {RECHAINS} "
    "WHEN NOT ("
    + _rechain_valid("json_extract(e.after, '$.first_id')", "json_extract(e.after, '$.last_id')")
    + f") BEGIN SELECT RAISE(ABORT, '{RECHAIN_MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_rechain_no_update BEFORE UPDATE ON {RECHAINS} "
    f"BEGIN SELECT RAISE(ABORT, '{RECHAINS_APPEND_ONLY}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_rechain_no_delete BEFORE DELETE ON {RECHAINS} "
    f"BEGIN SELECT RAISE(ABORT, '{RECHAINS_APPEND_ONLY}'); END",
]


SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
    "DROP TRIGGER IF EXISTS audit_permit_checked",
    "DROP TRIGGER IF EXISTS audit_permit_no_update",
    "DROP TRIGGER IF EXISTS audit_permit_no_delete",
    "DROP TRIGGER IF EXISTS audit_rechain_checked",
    "DROP TRIGGER IF EXISTS audit_rechain_no_update",
    "DROP TRIGGER IF EXISTS audit_rechain_no_delete",
]


def _pg_entry_function(update_permitted: str = "") -> str:
    """The entries' guard on PostgreSQL: a DELETE under a purge permit, an UPDATE under a
    re-chaining permit (once that table exists), nothing else."""
    update = (
        f"""
      IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW' THEN
        IF {update_permitted} THEN RETURN NEW; END IF;
      END IF;"""
        if update_permitted
        else ""
    )
    return f"""CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
        IF {PERMITTED} THEN RETURN OLD; END IF;
      END IF;{update}
      RAISE EXCEPTION '{MESSAGE}';
    END; $$ LANGUAGE plpgsql"""


POSTGRESQL_CREATE = [
    _pg_entry_function(),
    f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
    f"CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    # Row triggers do not see TRUNCATE, which would empty the table in one statement.
    f"DROP TRIGGER IF EXISTS audit_entry_no_truncate ON {TABLE}",
    f"CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
]


def _pg_guard(table: str, name: str, valid: str, refused: str, append_only: str) -> list[str]:
    """A permits table's guard on PostgreSQL: an INSERT only when `valid`, nothing else."""
    return [
        f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF {valid} THEN RETURN NEW; END IF;
        RAISE EXCEPTION '{refused}';
      END IF;
      RAISE EXCEPTION '{append_only}';
    END; $$ LANGUAGE plpgsql""",
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
        f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        f"DROP TRIGGER IF EXISTS {name.removesuffix('_guard')}_no_truncate ON {table}",
        f"CREATE TRIGGER {name.removesuffix('_guard')}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
    ]


PG_FIRST_LAST = ("(e.after ->> 'first_id')::bigint", "(e.after ->> 'last_id')::bigint")
POSTGRESQL_CREATE_PERMITS = _pg_guard(
    PERMITS,
    "audit_permit_guard",
    _permit_valid(*PG_FIRST_LAST),
    PERMIT_MESSAGE,
    PERMITS_APPEND_ONLY,
)


POSTGRESQL_CREATE_RECHAINS = [
    _pg_entry_function(update_permitted=RECHAIN_PERMITTED),
    *_pg_guard(
        RECHAINS,
        "audit_rechain_guard",
        _rechain_valid(*PG_FIRST_LAST),
        RECHAIN_MESSAGE,
        RECHAINS_APPEND_ONLY,
    ),
]


POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_entry_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_permit_guard ON {PERMITS}",
    f"DROP TRIGGER IF EXISTS audit_permit_no_truncate ON {PERMITS}",
    f"DROP TRIGGER IF EXISTS audit_rechain_guard ON {RECHAINS}",
    f"DROP TRIGGER IF EXISTS audit_rechain_no_truncate ON {RECHAINS}",
]


STATEMENTS = {
    "sqlite": (SQLITE_CREATE, SQLITE_CREATE_PERMITS, SQLITE_DROP),
    "postgresql": (POSTGRESQL_CREATE, POSTGRESQL_CREATE_PERMITS, POSTGRESQL_DROP),
}
RECHAIN_STATEMENTS = {
    "sqlite": SQLITE_CREATE_RECHAINS,
    "postgresql": POSTGRESQL_CREATE_RECHAINS,
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


def _has_table(connection, table: str) -> bool:
    with connection.cursor() as cursor:
        return table in connection.introspection.table_names(cursor)


def install(connection) -> None:
    create, create_permits, _ = STATEMENTS.get(connection.vendor, ([], [], []))
    _run(connection, create)
    if create_permits and _permits_named(connection):
        _run(connection, create_permits)
    # Migrations before the re-chaining permits existed keep the plain refusal of UPDATE.
    if connection.vendor in RECHAIN_STATEMENTS and _has_table(connection, RECHAINS):
        _run(connection, RECHAIN_STATEMENTS[connection.vendor])


def remove(connection) -> None:
    _, _, drop = STATEMENTS.get(connection.vendor, ([], [], []))
    _run(connection, drop)

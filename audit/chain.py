"""The audit trail's hash chain: each entry holds SHA-256(its content + the previous hash).

Writers are serialised (a PostgreSQL advisory lock; on SQLite the IMMEDIATE transaction
already holds the write lock), so every entry links to exactly one predecessor and the
chain never forks. `verify` recomputes it and reports the first broken link.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction

from audit.models import AuditEntry

GENESIS = "0" * 64
# pg_advisory_xact_lock takes a bigint; any constant that nothing else uses.
ADVISORY_LOCK_KEY = 0x61756469745F6C6B  # "audit_lk"


def canonical(entry: AuditEntry) -> bytes:
    """The bytes hashed for an entry: its content and its link, as sorted compact JSON."""
    content = {
        "created_at": entry.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "before": entry.before,
        "after": entry.after,
        "client_address": entry.client_address,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def append(entry: AuditEntry) -> AuditEntry:
    """Link `entry` to the chain's last entry and save it, holding the writers' lock."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        last = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry.prev_hash = last or GENESIS
        entry.entry_hash = compute_hash(entry)
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_at: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(chunk_size: int = 2000) -> Verification:
    previous = GENESIS
    checked = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=chunk_size):
        if entry.prev_hash != previous:
            return Verification(
                checked,
                entry.pk,
                f"entry {entry.pk} does not link to the entry before it: an entry before it "
                "was changed, removed or inserted",
            )
        if compute_hash(entry) != entry.entry_hash:
            return Verification(
                checked,
                entry.pk,
                f"entry {entry.pk} does not match its hash: its content was changed",
            )
        previous = entry.entry_hash
        checked += 1
    return Verification(checked)

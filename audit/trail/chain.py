"""The audit trail's hash chain: each entry holds SHA-256(its content + the previous hash),
and an HMAC of that hash with a key from the environment (AUDIT_HMAC_KEY).

Writers are serialised (a PostgreSQL advisory lock; on SQLite the IMMEDIATE transaction
already holds the write lock), so every entry links to exactly one predecessor and the
chain never forks. The hashes show that nothing was changed, removed or inserted; the HMACs
show that whoever recomputed them held the key, so a database writer alone cannot rewrite
history. The chain's head (its last entry's id and hash, signed) is published outside the
database; checking the chain against a published head shows that it was not shortened.
`verify` recomputes it all and reports the first broken link."""

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.db import connection, transaction

from audit.trail.models import AuditEntry

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


def current_key_id() -> str:
    return next(iter(settings.AUDIT_HMAC_KEYS))


def seal(entry_hash: str, key_id: str | None = None) -> str:
    """The HMAC-SHA256 of an entry's hash with key `key_id` (the current key by default)."""
    key = settings.AUDIT_HMAC_KEYS[key_id or current_key_id()]
    return hmac.new(key.encode(), entry_hash.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's last entry: what is published, and what a later check expects to find."""

    entry_id: int
    entry_hash: str

    def __str__(self) -> str:
        return f"{self.entry_id}:{self.entry_hash}"

    @classmethod
    def parse(cls, text: str) -> "Head":
        """From `ID:HASH` (ValueError with a message otherwise)."""
        entry_id, _, entry_hash = text.strip().partition(":")
        if not entry_id.isdigit() or len(entry_hash) != 64:
            raise ValueError(f"{text!r} is not ID:HASH (an entry id, a colon, a 64-digit hash)")
        return cls(int(entry_id), entry_hash.lower())


def head() -> Head | None:
    last = AuditEntry.objects.order_by("-id").values_list("id", "entry_hash").first()
    return Head(*last) if last else None


def lock_writers() -> None:
    """(Inside a transaction.) Hold the chain's writers' lock until it ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


def append(entry: AuditEntry, *, link_to: str | None = None) -> AuditEntry:
    """Link `entry` to the chain's last entry and save it, holding the writers' lock.
    `link_to`: the hash the last entry will have once the caller re-chains it (only
    audit.privacy.rechain, whose checkpoint is written before the entries it re-links)."""
    with transaction.atomic():
        lock_writers()
        last = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry.prev_hash = link_to or last or GENESIS
        seal_entry(entry)
        entry.save(force_insert=True)
    return entry


def seal_entry(entry: AuditEntry) -> None:
    """Its hash (over its content and link) and the HMAC of that hash, with the current key."""
    entry.entry_hash = compute_hash(entry)
    entry.key_id = current_key_id()
    entry.entry_hmac = seal(entry.entry_hash, entry.key_id)


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_at: int | None = None
    problem: str = ""
    head: Head | None = None
    purged: tuple[str, ...] = ()  # the ranges the retention purge removed, in words
    heads_purged: int = 0  # published heads checked that a recorded purge removed
    rechained: tuple[str, ...] = ()  # the ranges re-chained to take personal data out
    heads_rechained: int = 0  # published heads inside those ranges (vouched for by them)
    checkpoints_checked: int = 0  # published checkpoints the chain was checked against

    @property
    def intact(self) -> bool:
        return not self.problem


# Written by audit.trail.retention for each batch of audit entries it removes.
PURGE_ACTION, PURGE_OBJECT = "retention.purge", ("retention", "audit")


def purge_checkpoints() -> dict[str, dict]:
    """The audit purge checkpoints still in the chain, by the hash of the last entry each
    removed (the `prev_hash` the first entry after it keeps)."""
    rows = AuditEntry.objects.filter(
        action=PURGE_ACTION, object_type=PURGE_OBJECT[0], object_id=PURGE_OBJECT[1]
    ).order_by("id")
    return {
        entry.after["last_purged_hash"]: {**entry.after, "checkpoint": entry.pk}
        for entry in rows
        if isinstance(entry.after, dict) and entry.after.keys() >= CHECKPOINT_KEYS
    }


# What a checkpoint holds; one without them all (written by hand) is not taken as one, and
# its HMAC fails where it stands in the chain.
CHECKPOINT_KEYS = {"last_purged_hash", "first_id", "last_id", "count", "oldest", "newest"}


# Written by audit.privacy.rechain when it takes personal data out of old entries.
RECHAIN_ACTION = "privacy.redact_trail"
RECHAIN_KEYS = {"first_id", "last_id", "old_head_hash", "new_head_hash", "reason"}


def rechain_checkpoints() -> list[dict]:
    rows = AuditEntry.objects.filter(action=RECHAIN_ACTION, object_type="audit.trail.chain")
    return [
        {**entry.after, "checkpoint": entry.pk}
        for entry in rows.order_by("id")
        if isinstance(entry.after, dict) and entry.after.keys() >= RECHAIN_KEYS
    ]


def _rechained(head: Head, checkpoints: list[dict]) -> dict | None:
    """The re-chaining that explains why a published head's hash changed: the head is in
    its range and, for its last entry, was the old head it recorded."""
    for c in checkpoints:
        if c["first_id"] <= head.entry_id < c["last_id"]:
            return c
        if head.entry_id == c["last_id"] and head.entry_hash == c["old_head_hash"]:
            return c
    return None


def _purged_words(checkpoints: dict[str, dict]) -> tuple[str, ...]:
    return tuple(
        f"entries {c['first_id']} to {c['last_id']} ({c['count']}, {c['oldest'][:10]} to "
        f"{c['newest'][:10]}) removed by the retention purge, checkpoint entry {c['checkpoint']}"
        for c in sorted(checkpoints.values(), key=lambda c: c["first_id"])
    )


def verify(
    chunk_size: int = 2000,
    *,
    expect_head: Head | None = None,
    expected: Iterable[Head] = (),
    stop=None,
) -> Verification:
    """Recompute every link, hash and HMAC; with `expect_head` or `expected` (heads
    published earlier), also check that the chain still holds each of those entries,
    unchanged, or that a recorded retention purge removed it.

    After a retention purge the chain starts at the first entry left, whose link must be
    the last removed entry's hash as a checkpoint in the chain records it; the checkpoint is
    verified like any entry, so neither can be changed unseen."""
    heads = {head.entry_id: head for head in (*expected, *([expect_head] if expect_head else []))}
    previous = GENESIS
    checked = 0
    last: Head | None = None
    purged_below = 0  # every entry below this id went in a recorded retention purge
    checkpoints = purge_checkpoints()
    purged = _purged_words(checkpoints)
    rechains = rechain_checkpoints()
    rechained = tuple(
        f"entries {c['first_id']} to {c['last_id']} re-chained to take personal data out "
        f"({c['reason']}), checkpoint entry {c['checkpoint']} (the old head's hash "
        f"{c['old_head_hash'][:12]}...)"
        for c in rechains
    )
    vouched = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=chunk_size):
        if stop is not None and checked % chunk_size == 0:
            stop.check()  # a scheduled check ends early when its worker stops
        if checked == 0 and entry.prev_hash in checkpoints:
            previous = entry.prev_hash  # the chain starts after a recorded purge
            purged_below = entry.pk
        published = heads.get(entry.pk)
        if (
            published
            and entry.entry_hash != published.entry_hash
            and _rechained(published, rechains)
        ):
            published = None  # re-chained since it was published (and recorded)
            vouched += 1
        problem = _entry_problem(entry, previous) or _head_problem(entry, published)
        if problem:
            return Verification(checked, entry.pk, problem, last, purged, rechained=rechained)
        previous = entry.entry_hash
        last = Head(entry.pk, entry.entry_hash)
        heads.pop(entry.pk, None)
        checked += 1
    missing = {entry_id: head for entry_id, head in heads.items() if entry_id >= purged_below}
    problem = _missing_head_problem(missing, last)
    if problem:
        return Verification(checked, min(missing), problem, last, purged, rechained=rechained)
    return Verification(
        checked,
        head=last,
        purged=purged,
        heads_purged=len(heads) - len(missing),
        rechained=rechained,
        heads_rechained=vouched,
    )


def _missing_head_problem(missing: dict[int, Head], last: Head | None) -> str:
    """Why published heads that the chain no longer holds, and that no recorded retention
    purge removed, make it fail ("" when there are none)."""
    if not missing:
        return ""
    entry_id = min(missing)
    if last is None or last.entry_id < entry_id:
        return (
            f"the chain ends at entry {last.entry_id if last else 'none'}, before entry "
            f"{entry_id}, which was published as its head: entries were removed"
        )
    return (
        f"entry {entry_id}, published as the head, is missing from the chain and no recorded "
        "retention purge removed it: entries were removed and the chain was continued after them"
    )


def _entry_problem(entry: AuditEntry, previous: str) -> str:
    if entry.prev_hash != previous:
        return (
            f"entry {entry.pk} does not link to the entry before it: an entry before it "
            "was changed, removed or inserted"
        )
    if compute_hash(entry) != entry.entry_hash:
        return f"entry {entry.pk} does not match its hash: its content was changed"
    if entry.key_id not in settings.AUDIT_HMAC_KEYS:
        return (
            f"entry {entry.pk} is sealed with key {entry.key_id or '(none)'!r}, which "
            "AUDIT_HMAC_KEY does not hold: add that key (after the current one) to check it"
        )
    if not hmac.compare_digest(seal(entry.entry_hash, entry.key_id), entry.entry_hmac):
        return (
            f"entry {entry.pk} does not match its HMAC: its hash was recomputed without the "
            "key, so the chain was rewritten"
        )
    return ""


def _head_problem(entry: AuditEntry, expected: Head | None) -> str:
    if expected is None or entry.entry_hash == expected.entry_hash:
        return ""
    return (
        f"entry {entry.pk} is not the entry published as the head: its hash "
        f"{entry.entry_hash[:12]}... differs from {expected.entry_hash[:12]}..."
    )

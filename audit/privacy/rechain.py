"""Taking personal data out of audit entries that earlier versions wrote (customer text in
an object's name, officers' notes and corrections in before/after), leaving a chain that
verifies and says what was done.

An entry's hash covers its content, so cleaning one changes its hash and every hash after
it. The audited way (`redact_existing --trail`):

1. the chain must verify first (re-chaining a broken chain would hide the break);
2. every entry from the first one that holds personal data to the head is cleaned (texts
   through the detector; notes and corrections become HMAC commitments, as entries are
   written today) and re-linked in memory, giving the new head's hash;
3. a checkpoint entry (`privacy.redact_trail`) is appended, linked to that new hash, naming
   the range, the old head's hash, the ids of the entries whose content changed, the reason
   and who ran it;
4. a re-chaining permit names the checkpoint (the database accepts one only so, and only
   while the checkpoint is the newest entry, lets entries in its range change what they say
   and their link, hash and seal, never who, what or when: audit.trail.triggers);
5. the entries are rewritten; a closing entry ends the window; all in one transaction.

`verify_audit` then passes. A head published before (a signed checkpoint, an audit.head
webhook) that falls in the range no longer matches: verification says it was re-chained,
by which checkpoint, and the old head's hash the checkpoint keeps matches the last one."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from audit.trail import chain
from audit.trail.models import AuditEntry, RechainPermit
from audit.trail.record import audit_record
from streams.privacy.detect import Detector
from streams.privacy.subjects import commitment

# The keys under which snapshots kept officers' words (now commitments).
COMMITTED = frozenset({"review_note", "corrected_text", "second_note", "ruling_note"})
CONTENT = ("object_repr", "before", "after")


class ChainNotIntact(Exception):
    pass


@dataclass
class Rechained:
    scanned: int = 0
    changed: int = 0
    first_id: int | None = None
    last_id: int | None = None
    checkpoint_id: int | None = None


def cleaned(entry: AuditEntry, detector: Detector) -> bool:
    """Take personal data out of what the entry says; whether anything changed."""
    before = [getattr(entry, name) for name in CONTENT]
    entry.object_repr = detector.scan(entry.object_repr).text
    entry.before = _clean_value(entry.before, detector)
    entry.after = _clean_value(entry.after, detector)
    return [getattr(entry, name) for name in CONTENT] != before


def _clean_value(value, detector: Detector):
    if value is None:
        return None
    if isinstance(value, dict):
        value = {
            key: commitment(item)
            if key in COMMITTED and isinstance(item, str) and not item.startswith("hmac-sha256:")
            else item
            for key, item in value.items()
        }
    return detector.scan_value(value)[0]


def rechain(
    *,
    reason: str,
    actor_label: str,
    detector: Detector,
    dry_run: bool = False,
    chunk_size: int = 2000,
    progress: Callable[[str], None] = lambda line: None,
) -> Rechained:
    """Clean and re-chain (see the module's doc); with `dry_run`, count only."""
    result = Rechained()
    with transaction.atomic():
        chain.lock_writers()
        verification = chain.verify(chunk_size)
        if not verification.intact:
            raise ChainNotIntact(
                f"the audit chain does not verify ({verification.problem}): it is not re-chained, "
                "which would hide the break. Find out what happened first."
            )
        new_head, changed = _pass(detector, chunk_size, result)
        progress(
            f"audit trail: {result.scanned:,} entries read, {len(changed):,} hold personal data"
        )
        if not changed or dry_run:
            result.changed = len(changed)
            return result
        old_head = chain.head()
        result.first_id, result.last_id, result.changed = (
            changed[0],
            old_head.entry_id,
            len(changed),
        )
        checkpoint = chain.append(
            AuditEntry(
                actor_label=actor_label,
                action=chain.RECHAIN_ACTION,
                object_type="audit.trail.chain",
                object_id=f"{result.first_id}-{result.last_id}",
                object_repr=f"Personal data taken out of {len(changed):,} audit entries",
                after={
                    "reason": reason,
                    "first_id": result.first_id,
                    "last_id": result.last_id,
                    "old_head_hash": old_head.entry_hash,
                    "new_head_hash": new_head,
                    "changed_ids": changed,
                },
            ),
            link_to=new_head,
        )
        result.checkpoint_id = checkpoint.pk
        RechainPermit.objects.create(
            checkpoint_id=checkpoint.pk, first_id=result.first_id, up_to_id=result.last_id
        )
        _pass(detector, chunk_size, Rechained(), write_from=result.first_id, up_to=result.last_id)
        audit_record(
            action="privacy.redact_trail_closed",
            actor_label=actor_label,
            object_type="audit.trail.chain",
            object_id=str(checkpoint.pk),
            object_repr="Re-chaining finished; its permit is closed",
        )
        progress(f"audit trail: {len(changed):,} entries cleaned, checkpoint entry {checkpoint.pk}")
    return result


def _pass(
    detector: Detector,
    chunk_size: int,
    result: Rechained,
    *,
    write_from: int | None = None,
    up_to: int | None = None,
) -> tuple[str, list[int]]:
    """Walk the chain: clean each entry and re-link from the first that changes. Returns the
    new head's hash and the ids whose content changed; with `write_from`, saves the entries
    from there (under the permit)."""
    previous = None  # the new hash of the entry before, once re-linking has begun
    changed: list[int] = []
    pending: list[AuditEntry] = []
    rows = AuditEntry.objects.order_by("id")
    if up_to is not None:
        rows = rows.filter(id__lte=up_to)
    for entry in rows.iterator(chunk_size=chunk_size):
        result.scanned += 1
        if cleaned(entry, detector):
            changed.append(entry.pk)
        elif previous is None:
            continue  # before the first change: unchanged, and so is its link
        if previous is not None:
            entry.prev_hash = previous
        chain.seal_entry(entry)
        previous = entry.entry_hash
        if write_from is not None and entry.pk >= write_from:
            pending.append(entry)
            if len(pending) >= 500:
                _save(pending)
    if pending:
        _save(pending)
    return previous, changed


def _save(entries: list[AuditEntry]) -> None:
    AuditEntry.objects.bulk_update(
        entries, [*CONTENT, "prev_hash", "entry_hash", "key_id", "entry_hmac"], batch_size=500
    )
    entries.clear()

"""What a batch keeps of the personal data found in it (inside the batch's transaction, in the
writer's thread): the subject hashes of its identifiers, its originals encrypted under their
conversations' keys (only with PERSONAL_DATA_POLICY=redacted_and_original), and how much of
each kind was found today."""

import functools
from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from streams.privacy import detect, subjects, vault
from streams.privacy.models import (
    ConversationKey,
    DetectionCount,
    Original,
    PrivacySettings,
    SubjectHash,
)


@dataclass(frozen=True)
class Found:
    """What was found in one item: its conversation, where it is (kind and reference, the
    place an original is bound to), the findings, and the originals to seal."""

    conversation_id: str
    item_kind: str  # insight, knowledge
    item_ref: str  # stream:external id of an insight, the query id of a knowledge query
    findings: tuple
    originals: dict | None = None


def keep(stream_id: int, created: list, quarantined: list = ()) -> None:
    """`created`: the accepted records the batch stored; `quarantined`: its quarantine
    records (their findings are counted only: the frame has no conversation)."""
    keep_found(
        [
            Found(
                record.interaction_id,
                "insight",
                f"{stream_id}:{record.external_id}",
                record.findings,
                record.originals,
            )
            for record in created
            if record.findings
        ],
        counted_only=[f for record in quarantined for f in record.findings],
    )


def keep_found(found: list[Found], counted_only=()) -> None:
    """(Inside the transaction that stores the items.) Their subjects' hashes, their
    originals where the deployment keeps them, and today's counts."""
    counts = Counter(f.kind for item in found for f in item.findings)
    counts.update(f.kind for f in counted_only)
    if not counts:
        return
    _subjects(found)
    if vault.keeps_originals():
        _originals([item for item in found if item.originals and item.conversation_id])
    count(counts)


def _subjects(found: list[Found]) -> None:
    regions = functools.cache(_regions)  # read only for a phone number not read already
    rows = {
        (
            subjects.digest(f.kind, f.value, regions() if not f.normal else (), f.normal),
            item.conversation_id,
        ): f.kind
        for item in found
        if item.conversation_id
        for f in item.findings
        if f.kind in detect.SEARCHABLE
    }
    SubjectHash.objects.bulk_create(
        [
            SubjectHash(digest=digest, kind=kind, conversation_id=conversation)
            for (digest, conversation), kind in rows.items()
        ],
        ignore_conflicts=True,
    )


def _regions() -> tuple[str, ...]:
    """The configured phone regions, to read a national number as the detector did."""
    return tuple(PrivacySettings.current().phone_regions or ())


def data_keys(conversations: set[str]) -> dict[str, bytes]:
    """Each conversation's data key, made for those that have none yet."""
    existing = ConversationKey.objects.filter(conversation_id__in=conversations)
    missing = conversations - set(existing.values_list("conversation_id", flat=True))
    fresh = {}
    for conversation in missing:
        wrapped, key_id = vault.new_data_key(conversation)
        fresh[conversation] = ConversationKey(
            conversation_id=conversation, wrapped=wrapped, master_key_id=key_id
        )
    ConversationKey.objects.bulk_create(fresh.values(), ignore_conflicts=True)
    return {
        row.conversation_id: vault.unwrap(row.wrapped, row.master_key_id, row.conversation_id)
        for row in ConversationKey.objects.filter(conversation_id__in=conversations)
    }


def original_context(item_kind: str, item_ref: str, field: str) -> str:
    """What an original's seal is bound to: it opens only as that item's field."""
    return f"{item_kind}:{item_ref}:{field}"


def _originals(found: list[Found]) -> None:
    if not found:
        return
    keys = data_keys({item.conversation_id for item in found})
    ids = dict(
        ConversationKey.objects.filter(conversation_id__in=keys).values_list(
            "conversation_id", "pk"
        )
    )
    rows = [
        Original(
            key_id=ids[item.conversation_id],
            item_kind=item.item_kind,
            item_ref=item.item_ref,
            field=field,
            sealed=vault.seal_text(
                keys[item.conversation_id],
                text,
                original_context(item.item_kind, item.item_ref, field),
            ),
        )
        for item in found
        for field, text in item.originals.items()
    ]
    Original.objects.bulk_create(rows, ignore_conflicts=True)


def count(counts: Counter) -> None:
    """Add to today's detections per kind: one statement (an upsert both databases know)."""
    rows = [(timezone.localdate(), kind, n) for kind, n in counts.items() if n]
    if not rows:
        return
    table = connection.ops.quote_name(DetectionCount._meta.db_table)
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, kind, count) VALUES {values} "  # noqa: S608 (no input)
            "ON CONFLICT (day, kind) DO UPDATE SET count = "
            f"{table}.count + excluded.count",
            [value for row in rows for value in row],
        )

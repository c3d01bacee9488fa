"""Taking personal data out of what earlier versions stored, place by place, in batches of
rows by id (resumable: the caller records where each batch ended). Each row's texts go
through the detector as at ingest; what is found is kept as at ingest too (subject hashes;
sealed originals where the deployment keeps them, before the text is replaced)."""

from dataclasses import dataclass, field

from django.db import transaction

from streams.ingest.models import Insight, QuarantinedFrame
from streams.knowledge.models import KnowledgeQuery
from streams.privacy.detect import Detector
from streams.privacy.protect import Protector, codes
from streams.privacy.store import Found, keep_found
from streams.privacy.vault import keeps_originals
from streams.webhooks.models import GenesysFeedback, OutboxBatch, WebhookDelivery


@dataclass(frozen=True)
class Place:
    name: str
    model: type
    texts: tuple[str, ...] = ()  # text fields
    values: tuple[str, ...] = ()  # JSON fields
    # For an item: its kind and its conversation's field.
    item_kind: str = ""
    conversation: str = ""

    def ref(self, row) -> str:
        return f"{row.stream_id}:{row.external_id}" if self.model is Insight else row.query_id


PLACES = [
    Place(
        "insights",
        Insight,
        ("snippet", "review_note", "corrected_text"),
        ("payload",),
        "insight",
        "interaction_id",
    ),
    Place(
        "knowledge queries",
        KnowledgeQuery,
        ("query_text", "review_note", "corrected_text"),
        ("results",),
        "knowledge",
        "conversation_id",
    ),
    Place("quarantined frames", QuarantinedFrame, ("raw",)),
    Place("webhook outbox batches", OutboxBatch, (), ("items",)),
    Place("webhook deliveries", WebhookDelivery, (), ("payload",)),
    Place("verdicts for Genesys", GenesysFeedback, ("comment",)),
]


@dataclass
class Batch:
    last_id: object = None
    scanned: int = 0
    changed: int = 0
    found: dict = field(default_factory=dict)


def redact_batch(place: Place, detector: Detector, *, after, size: int, dry_run: bool) -> Batch:
    """The next `size` rows after id `after` (None: from the start), in one transaction."""
    batch = Batch()
    with transaction.atomic():
        rows = place.model.objects.order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        rows = list(rows[:size])
        kept = []
        for row in rows:
            batch.scanned += 1
            batch.last_id = row.pk
            update, findings = {}, []
            for name in place.texts:
                scan = detector.scan(getattr(row, name) or "")
                if scan.findings:
                    update[name] = scan.text
                    findings += scan.findings
            for name in place.values:
                value, found = detector.scan_value(getattr(row, name))
                if found:
                    update[name] = value
                    findings += found
            if not update:
                continue
            batch.changed += 1
            for finding in findings:
                batch.found[finding.kind] = batch.found.get(finding.kind, 0) + 1
            if dry_run:
                continue
            if place.item_kind:
                kept.append(_found(place, row, findings))
            place.model.objects.filter(pk=row.pk).update(**update)
        if kept:
            keep_found(kept)
    return batch


def _found(place: Place, row, findings) -> Found:
    """What ingest would have kept of the row's findings: the original as at ingest."""
    originals = None
    if keeps_originals():
        originals = (
            Protector.originals(row.snippet, row.payload)
            if place.model is Insight
            else {"query_text": codes().scan(row.query_text).text}
        )
    conversation = getattr(row, place.conversation)
    return Found(conversation, place.item_kind, place.ref(row), tuple(findings), originals)

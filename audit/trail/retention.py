"""Retention: records older than their kind's retention (RetentionPolicy) are deleted, in
batches; each batch writes a checkpoint entry into the audit chain in the same transaction,
so what left is itself on record and the chain still verifies.

Active legal holds suspend purging of what they cover: a hold on everything stops the purge;
a stream hold keeps that stream's insights and quarantined frames; an interaction hold keeps
that conversation's insights and knowledge queries; and any active hold keeps every audit
entry (an entry about a held item could be anywhere in the trail). Items still waiting for
a decision are never purged.

Audit entries go oldest first, always a prefix of the chain, through the one exception the
database triggers make (a purge permit naming the checkpoint written for it just before,
audit.trail.triggers). The batch's checkpoint names the hash of the last entry it removes, which
is the `prev_hash` of the first entry left: that is where `verify` starts (audit.trail.chain)."""

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.trail.chain import PURGE_ACTION
from audit.trail.models import AuditEntry, LegalHold, PurgePermit, RetentionPolicy
from audit.trail.periodic import every_period
from audit.trail.record import audit_record
from streams.models import Insight, KnowledgeQuery, QuarantinedFrame, Reviewable, WebhookDelivery

logger = logging.getLogger(__name__)
ACTOR = "Retention purge"
BATCH_SIZE = 1000


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    policy_field: str
    model: type
    time_field: str


# In this order: knowledge queries before the insights they name; audit entries last.
KINDS = (
    Kind("knowledge", "knowledge queries", "knowledge_months", KnowledgeQuery, "created_at"),
    Kind("insights", "insights and their decisions", "insight_months", Insight, "received_at"),
    Kind("quarantine", "quarantined frames", "quarantine_months", QuarantinedFrame, "received_at"),
    Kind("webhooks", "webhook deliveries", "webhook_months", WebhookDelivery, "created_at"),
    Kind("audit", "audit entries", "audit_months", AuditEntry, "created_at"),
)


AUDIT_KIND = KINDS[-1]
# Items the purge removes, by their kind in the review ("insight", "knowledge"): what refers
# to them elsewhere (their second reviews) goes with them. Receivers return how many rows
# they removed, recorded in the batch's checkpoint under their name.
items_purged = Signal()
REVIEW_KINDS = {"insights": "insight", "knowledge": "knowledge"}


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the month's last day where
    that day does not exist)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class Holds:
    everything: bool = False
    streams: set[int] = field(default_factory=set)
    interactions: set[str] = field(default_factory=set)
    described: list[str] = field(default_factory=list)

    @classmethod
    def active(cls) -> "Holds":
        holds = cls()
        for hold in LegalHold.objects.active().select_related("stream"):
            holds.described.append(str(hold))
            if hold.scope == LegalHold.Scope.ALL:
                holds.everything = True
            elif hold.scope == LegalHold.Scope.STREAM:
                holds.streams.add(hold.stream_id)
            else:
                holds.interactions.add(hold.interaction_id)
        return holds

    @property
    def any(self) -> bool:
        return bool(self.described)


def due(kind: Kind, cutoff: datetime, holds: Holds):
    """What of `kind` may go now (None: nothing, because of a hold)."""
    if holds.everything or (kind.name == "audit" and holds.any):
        return None
    older = {f"{kind.time_field}__lt": cutoff}
    if kind.name == "audit":
        # Always a prefix of the chain: up to the first entry that is not yet due.
        boundary = (
            AuditEntry.objects.exclude(**older).order_by("id").values_list("id", flat=True).first()
        )
        entries = AuditEntry.objects.filter(**older)
        return entries.filter(id__lt=boundary) if boundary is not None else entries
    queryset = kind.model.objects.filter(**older)
    if issubclass(kind.model, Reviewable):
        queryset = queryset.exclude(review_status=Reviewable.ReviewStatus.PENDING)
    if kind.name == "knowledge":
        queryset = queryset.exclude(conversation_id__in=holds.interactions)
    if kind.name == "insights":
        queryset = queryset.exclude(stream_id__in=holds.streams)
        queryset = queryset.exclude(interaction_id__in=holds.interactions)
        queryset = queryset.filter(knowledge_queries__isnull=True)  # kept while named
    if kind.name == "quarantine":
        queryset = queryset.exclude(stream_id__in=holds.streams)
    if kind.name == "webhooks":
        queryset = queryset.exclude(status=WebhookDelivery.Status.PENDING)
    return queryset


@dataclass
class Outcome:
    kind: str
    label: str
    months: int
    cutoff: datetime
    count: int = 0
    batches: int = 0
    held: bool = False


def purge(
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    stop=None,
):
    """Delete what is due, kind by kind; returns an Outcome per kind (with `dry_run`, what
    would go, and nothing is deleted or written). `stop` (audit.trail.periodic) ends it between
    batches: each batch is whole, with its checkpoint."""
    now = now or timezone.now()
    policy = RetentionPolicy.current()
    outcomes = []
    for kind in KINDS:
        months = getattr(policy, kind.policy_field)
        cutoff = months_before(now, months)
        outcome = Outcome(kind.name, kind.label, months, cutoff)
        outcomes.append(outcome)
        holds = Holds.active()
        queryset = due(kind, cutoff, holds)
        if queryset is None:
            outcome.held = True
            continue
        if dry_run:
            outcome.count = queryset.count()
            continue
        while True:
            if stop is not None:
                stop.check()
            removed = _batch(kind, cutoff, months, batch_size)
            if not removed:
                break
            outcome.count += removed
            outcome.batches += 1
    return outcomes


def _batch(kind: Kind, cutoff: datetime, months: int, batch_size: int) -> int:
    """One batch in one transaction: delete it and write its checkpoint."""
    pk = kind.model._meta.pk.name
    with transaction.atomic():
        holds = Holds.active()  # read again inside the transaction: a hold placed now counts
        queryset = due(kind, cutoff, holds)
        if queryset is None:
            return 0
        order = ("id",) if kind.name == "audit" else (kind.time_field, pk)  # audit: a prefix
        rows = list(queryset.order_by(*order).values_list(pk, kind.time_field)[:batch_size])
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        times = [row[1] for row in rows]
        record = {
            "kind": kind.name,
            "what": kind.label,
            "count": len(ids),
            "oldest": min(times).isoformat(),
            "newest": max(times).isoformat(),
            "retention_months": months,
            "cutoff": cutoff.isoformat(),
            "holds": holds.described,
        }
        if kind.name == "audit":
            _purge_entries(ids, record, months)
            return len(ids)
        record.update(first_id=str(min(ids)), last_id=str(max(ids)))
        kind.model.objects.filter(pk__in=ids).delete()
        if kind.name in REVIEW_KINDS:
            answers = items_purged.send(sender=Kind, kind=REVIEW_KINDS[kind.name], ids=ids)
            for _, answer in answers:
                record.update(answer or {})
        _checkpoint(kind, record, months)
    return len(ids)


def _checkpoint(kind: Kind, record: dict, months: int) -> AuditEntry:
    return audit_record(
        action=PURGE_ACTION,
        actor_label=ACTOR,
        object_type="retention",
        object_id=kind.name,
        object_repr=f"{record['count']} {kind.label} older than {months} months",
        after=record,
    )


def _purge_entries(ids: list[int], record: dict, months: int) -> None:
    """(Inside the batch's transaction.) The oldest entries of the chain: the checkpoint
    first, then the permit that names it, then the deletion, which the database allows
    only inside that permit's range (audit.trail.triggers)."""
    last = AuditEntry.objects.get(id=ids[-1])
    record.update(first_id=ids[0], last_id=last.id, last_purged_hash=last.entry_hash)
    checkpoint = _checkpoint(AUDIT_KIND, record, months)
    PurgePermit.objects.create(checkpoint_id=checkpoint.pk, first_id=ids[0], up_to_id=last.id)
    AuditEntry.objects.filter(id__gte=ids[0], id__lte=last.id).delete()


async def retention_purger(worker: str) -> None:
    """(A stream worker task.) Purge every RETENTION_PURGE_SECONDS (a day)."""
    await every_period("retention-purge", settings.RETENTION_PURGE_SECONDS, worker, _purge_logged)


def _purge_logged(stop) -> None:
    for outcome in purge(stop=stop):
        if outcome.count or outcome.held:
            logger.info(
                "retention: %s %s older than %d months%s",
                "kept (held)" if outcome.held else f"purged {outcome.count}",
                outcome.label,
                outcome.months,
                "" if outcome.held else f" in {outcome.batches} batch(es)",
            )

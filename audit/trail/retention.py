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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from importlib import import_module

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from audit.trail.chain import PURGE_ACTION
from audit.trail.models import AuditEntry, DeniedTally, LegalHold, PurgePermit, RetentionPolicy
from audit.trail.periodic import every_period
from audit.trail.record import audit_record
from streams import live
from streams.models import (
    ChangeRequest,
    ConversationKey,
    GenesysFeedback,
    Insight,
    KnowledgeQuery,
    QuarantinedFrame,
    Reviewable,
    SubjectHash,
    WebhookDelivery,
)
from streams.webhooks.models import OutboxBatch

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
    # What of the rows past their time may not go yet (holds, pending work), beyond the
    # rules every kind follows in `due`.
    narrow: Callable[[QuerySet, "Holds"], QuerySet] | None = None


def _knowledge(rows, holds):
    return rows.exclude(conversation_id__in=holds.interactions)


def _insights(rows, holds):
    rows = rows.exclude(stream_id__in=holds.streams)
    rows = rows.exclude(interaction_id__in=holds.interactions)
    return rows.filter(knowledge_queries__isnull=True)  # kept while named


def _quarantine(rows, holds):
    return rows.exclude(stream_id__in=holds.streams)


def _deliveries(rows, holds):
    return rows.exclude(status=WebhookDelivery.Status.PENDING)


def _feedback(rows, holds):
    return rows.exclude(status=GenesysFeedback.Status.PENDING)


def _changes(rows, holds):
    return rows.exclude(status=ChangeRequest.Status.PENDING)


def _of_conversations_gone(field: str):
    """A conversation's data key and subject hashes go once nothing of it is left (and
    not while a hold covers it): its originals go with the key."""

    def narrow(rows, holds):
        rows = rows.exclude(**{f"{field}__in": holds.interactions})
        rows = rows.exclude(**{f"{field}__in": Insight.objects.values("interaction_id")})
        return rows.exclude(**{f"{field}__in": KnowledgeQuery.objects.values("conversation_id")})

    return narrow


# In this order: knowledge queries before the insights they name; then what refers to
# conversations (keys, subject hashes) once their items are gone; audit entries last.
KINDS = [
    Kind(
        "knowledge",
        "knowledge queries",
        "knowledge_months",
        KnowledgeQuery,
        "created_at",
        _knowledge,
    ),
    Kind(
        "insights",
        "insights and their decisions",
        "insight_months",
        Insight,
        "received_at",
        _insights,
    ),
    Kind(
        "quarantine",
        "quarantined frames",
        "quarantine_months",
        QuarantinedFrame,
        "received_at",
        _quarantine,
    ),
    Kind(
        "webhooks",
        "webhook deliveries",
        "webhook_months",
        WebhookDelivery,
        "created_at",
        _deliveries,
    ),
    Kind("outbox", "webhook outbox batches", "webhook_months", OutboxBatch, "created_at"),
    Kind(
        "feedback",
        "verdicts sent to Genesys",
        "webhook_months",
        GenesysFeedback,
        "created_at",
        _feedback,
    ),
    Kind(
        "keys",
        "conversations' data keys and sealed originals",
        "insight_months",
        ConversationKey,
        "created_at",
        _of_conversations_gone("conversation_id"),
    ),
    Kind(
        "subjects",
        "data subjects' keyed hashes",
        "insight_months",
        SubjectHash,
        "first_seen",
        _of_conversations_gone("conversation_id"),
    ),
    Kind(
        "changes",
        "decided configuration change requests",
        "audit_months",
        ChangeRequest,
        "created_at",
        _changes,
    ),
    Kind(
        "signin_attempts",
        "sign-in attempts (throttling)",
        "signin_months",
        AccessAttempt,
        "attempt_time",
    ),
    Kind(
        "signin_failures",
        "failed sign-ins (throttling log)",
        "signin_months",
        AccessFailureLog,
        "attempt_time",
    ),
    Kind(
        "signin_log",
        "sign-ins and sign-outs (throttling log)",
        "signin_months",
        AccessLog,
        "attempt_time",
    ),
    Kind("denied", "refusals counted per minute", "signin_months", DeniedTally, "minute"),
    Kind("audit", "audit entries", "audit_months", AuditEntry, "created_at"),
]


def register(kind: Kind) -> None:
    """A kind of record another package keeps (item openings, erasure requests), purged
    before the audit entries."""
    if all(known.name != kind.name for known in KINDS):
        KINDS.insert(len(KINDS) - 1, kind)


AUDIT_KIND = KINDS[-1]  # always last
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
    return kind.narrow(queryset, holds) if kind.narrow else queryset


@dataclass
class Outcome:
    kind: str
    label: str
    months: int
    cutoff: datetime
    count: int = 0
    batches: int = 0
    held: bool = False
    expired_days: int = 0  # pending items expired (not purged) after this many days


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
    outcomes = [
        expire_pending(model, policy.pending_max_days, now, dry_run, batch_size, stop)
        for model in (Insight, KnowledgeQuery)
    ]
    if not dry_run:
        # Sessions past their end (database sessions; cached ones expire by themselves).
        import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
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


EXPIRED_RULE = "expired: waited {days} days without a decision (retention policy)"


def expire_pending(model, days: int, now, dry_run: bool, batch_size: int, stop) -> "Outcome":
    """Items nobody decided within `days` are filtered by rule, a batch at a time, each
    batch an audit entry (the rule, how many, which ids), and leave every review page."""
    name = "insight" if model is Insight else "knowledge"
    label = "insights" if model is Insight else "knowledge answers"
    field_name = "received_at" if model is Insight else "created_at"
    cutoff = now - timedelta(days=days)
    outcome = Outcome(
        f"expired_{name}", f"{label} waiting for a decision", 0, cutoff, expired_days=days
    )
    waiting = model.objects.pending().filter(**{f"{field_name}__lt": cutoff})
    if dry_run:
        outcome.count = waiting.count()
        return outcome
    rule = EXPIRED_RULE.format(days=days)
    while True:
        if stop is not None:
            stop.check()
        with transaction.atomic():
            ids = list(waiting.order_by(field_name, "pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return outcome
            decided = (
                model.objects.pending()
                .filter(pk__in=ids)
                .update(
                    review_status=Reviewable.ReviewStatus.FILTERED,
                    reviewed_at=now,
                    review_rule=rule,
                    **model.UNCLAIMED,
                )
            )
            audit_record(
                action=f"{name}.expire_pending",
                actor_label=ACTOR,
                object_type=model._meta.label_lower,
                object_id=f"{min(ids)}-{max(ids)}",
                object_repr=f"{decided} {label} expired after {days} days pending",
                after={"rule": rule, "count": decided, "ids": ids, "cutoff": cutoff.isoformat()},
            )
            transaction.on_commit(partial(live.announce_decisions, ids, name))
        outcome.count += decided
        outcome.batches += 1


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
    from streams.searchindex import forget_removed_words

    _log_purge(stop)
    forget_removed_words()


def _log_purge(stop) -> None:
    for outcome in purge(stop=stop):
        if outcome.expired_days and outcome.count:
            logger.info(
                "retention: expired %d %s after %d days",
                outcome.count,
                outcome.label,
                outcome.expired_days,
            )
        elif outcome.count or outcome.held:
            logger.info(
                "retention: %s %s older than %d months%s",
                "kept (held)" if outcome.held else f"purged {outcome.count}",
                outcome.label,
                outcome.months,
                "" if outcome.held else f" in {outcome.batches} batch(es)",
            )

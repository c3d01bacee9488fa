"""Oversight of the overseers: decided items sampled for a blind second review, the second
officer's decision beside the first, and a governance admin's ruling where they differ.

Which items are sampled is a keyed draw (an HMAC of the item under the deployment's secret
key), not a random number: the same item is always in or out, so a sample can be recomputed
for an auditor, and an officer cannot tell in advance which of their decisions will be
looked at again.
"""

import hashlib
import hmac
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ItemOpening, OversightSettings, SecondReview, StreamSampling
from audit.periodic import every_period
from audit.services import (
    NOTE_MAX_LENGTH,
    REVIEW_KINDS,
    Origin,
    _bounded,
    audit_record,
    reason_code_check,
)
from audit.vocabulary import type_labels
from streams import live
from streams.models import ChangeRequest, Insight, Reviewable
from streams.webhooks import outbox

logger = logging.getLogger(__name__)

HOLD_MINUTES = 10  # how long a second review stays with the officer who opened it
RULE_SAMPLE_SECONDS = 300.0
RULE_SAMPLE_BATCH = 5000
# Rule decisions younger than this are not sampled yet: an ingest batch with lower ids may
# still be committing.
RULE_SAMPLE_SETTLE = timedelta(minutes=1)
DECIDED = (Reviewable.ReviewStatus.APPROVED, Reviewable.ReviewStatus.REJECTED)


class SecondReviewConflict(Exception):
    """Someone else answered or ruled first, or the reviewer may not answer this one."""


def draw(kind: str, item_id: int, purpose: str = "second-review") -> float:
    """The item's keyed draw in [0, 1): sampled when below the share."""
    message = f"{purpose}:{kind}:{item_id}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def shares_for(stream_id: int | None) -> tuple[float, float]:
    """(approvals, rejections) sampled in percent, the stream's own or the defaults."""
    own = StreamSampling.objects.filter(stream_id=stream_id).first() if stream_id else None
    source = own or OversightSettings.current()
    return source.approval_share, source.rejection_share


def sample_decision(item, kind_name: str) -> SecondReview | None:
    """(Inside the decision's transaction.) Send a person's decision to a second officer if
    its draw falls in the share for its stream and verdict."""
    stream_id = getattr(item, "stream_id", None) if kind_name == "insight" else None
    approvals, rejections = shares_for(stream_id)
    share = approvals if item.review_status == Reviewable.ReviewStatus.APPROVED else rejections
    if draw(kind_name, item.pk) * 100 >= share:
        return None
    review, _ = SecondReview.objects.get_or_create(
        kind=kind_name,
        item_id=item.pk,
        defaults={
            "stream_id": stream_id,
            "source": SecondReview.Source.OFFICER,
            "first_status": item.review_status,
            "first_by_id": item.reviewed_by_id,
            "first_at": item.reviewed_at,
        },
    )
    return review


def item_opened(*, user, kind: str, item_id: int) -> None:
    """Note when `user` first opened the item (their decision time starts there)."""
    ItemOpening.objects.bulk_create(
        [ItemOpening(user=user, kind=kind, item_id=item_id)], ignore_conflicts=True
    )


def opened_at(*, user, kind: str, item_id: int):
    """(At the decision.) When the deciding officer opened the item; forgets every opening of
    it, since nobody decides it again."""
    openings = ItemOpening.objects.filter(kind=kind, item_id=item_id)
    found = list(openings.values_list("user_id", "opened_at"))
    if found:
        openings.delete()
    return next((when for who, when in found if who == user.pk), None)


# The second officer's page.


def next_for(user, now=None) -> SecondReview | None:
    """The second review `user` holds, or the oldest one waiting that is not theirs to
    begin with (held for HOLD_MINUTES, so two officers do not answer one item)."""
    now = now or timezone.now()
    mine = SecondReview.objects.waiting().filter(holder=user, held_until__gte=now).first()
    if mine is not None:
        return mine
    free = (
        SecondReview.objects.for_second_officer(user)
        .exclude(holder__isnull=False, held_until__gte=now)
        .order_by("id")
    )
    for candidate in free.values_list("id", flat=True)[:20]:
        taken = (
            SecondReview.objects.filter(pk=candidate, outcome=SecondReview.Outcome.WAITING)
            .exclude(holder__isnull=False, held_until__gte=now)
            .update(holder=user, held_until=now + timedelta(minutes=HOLD_MINUTES))
        )
        if taken:
            return SecondReview.objects.get(pk=candidate)
    return None


def waiting_count(user) -> int:
    return SecondReview.objects.for_second_officer(user).count()


def waiting_for(user) -> dict:
    """What waits for `user`'s second look: second reviews, disagreements to rule on,
    other admins' configuration change requests (what their role lets them do)."""
    waiting = {}
    if user.has_perm("audit.give_second_review"):
        waiting["second_reviews"] = waiting_count(user)
    if user.has_perm("audit.adjudicate_secondreview"):
        waiting["disagreements"] = SecondReview.objects.to_adjudicate().count()
    if user.has_perm("streams.decide_changerequest"):
        pending = ChangeRequest.objects.pending().filter(expires_at__gte=timezone.now())
        waiting["change_requests"] = pending.exclude(author=user).count()
    return waiting


def blind_item(review: SecondReview) -> dict:
    """What the second officer sees: the item as it arrived, never the first decision,
    who made it, a correction or a note."""
    kind = REVIEW_KINDS[review.kind]
    item = kind.model.objects.select_related("stream").get(pk=review.item_id)
    seen = {"kind": kind.label, "stream": item.stream.name, "text": item.original_text}
    if isinstance(item, Insight):
        seen |= {
            "type": type_labels().get(item.insight_type, item.insight_type),
            "confidence": item.confidence,
            "conversation": item.interaction_id,
            "received_at": item.received_at,
        }
    else:
        seen |= {
            "type": "Knowledge answer",
            "confidence": item.top_confidence,
            "conversation": item.conversation_id,
            "received_at": item.created_at,
            "answers": [result.get("title", "") for result in item.passed_results()][:5],
        }
    return seen


def second_review_decide(
    *,
    review: SecondReview,
    by,
    decision: str,
    reason_code: str = "",
    note: str = "",
    origin: Origin | None = None,
) -> SecondReview:
    """Record the second officer's decision beside the first (the item is not changed)."""
    if decision not in ("approve", "reject"):
        raise ValidationError("decision must be approve or reject")
    if decision == "reject":
        reason_code_check(reason_code)
    note = _bounded(note, "note", NOTE_MAX_LENGTH)
    status = "approved" if decision == "approve" else "rejected"
    now = timezone.now()
    with transaction.atomic():
        answered = (
            SecondReview.objects.for_second_officer(by)
            .filter(pk=review.pk)
            .filter(Q(holder=None) | Q(holder=by) | Q(held_until__lt=now))
            .update(
                second_status=status,
                second_by=by,
                second_at=now,
                second_reason_code=reason_code if status == "rejected" else "",
                second_note=note,
                holder=None,
                held_until=None,
            )
        )
        review.refresh_from_db()
        if not answered:
            raise SecondReviewConflict(_conflict(review, by))
        review.outcome = _outcome(review)
        review.save(update_fields=["outcome"])
        audit_record(
            action="second_review.give",
            actor=by,
            obj=review,
            object_repr=f"Second review of {REVIEW_KINDS[review.kind].label.lower()} "
            f"{review.item_id}",
            after=review.audit_snapshot(),
            origin=origin,
        )
    return review


def _outcome(review: SecondReview) -> str:
    if review.second_status == review.first_verdict:
        return SecondReview.Outcome.AGREED
    if review.source == SecondReview.Source.RULE:
        return SecondReview.Outcome.DIFFERS_FROM_RULE
    return SecondReview.Outcome.DISAGREED


def _conflict(review: SecondReview, by) -> str:
    if review.first_by_id == by.pk:
        return "You made the first decision on this item; a second review is someone else's."
    if review.second_by_id:
        return f"{review.second_by.get_username()} already gave the second review of this item."
    return "Another officer has this item open; it has been left to them."


def adjudicate(
    *,
    review: SecondReview,
    by,
    ruling: str,
    reason_code: str = "",
    note: str,
    origin: Origin | None = None,
) -> SecondReview:
    """A governance admin's final word where two officers differ. When the ruling is not
    the item's decision, the item takes the ruling (audited, webhook, live pages)."""
    if ruling not in DECIDED:
        raise ValidationError("The ruling is approved or rejected.")
    if ruling == Reviewable.ReviewStatus.REJECTED:
        reason_code_check(reason_code)
    note = _bounded(note, "comment", NOTE_MAX_LENGTH)
    if not note:
        raise ValidationError("A ruling needs a comment: say why, for the officers and auditors.")
    now = timezone.now()
    with transaction.atomic():
        ruled = (
            SecondReview.objects.to_adjudicate()
            .filter(pk=review.pk)
            .update(
                outcome=SecondReview.Outcome.RULED,
                ruling=ruling,
                ruled_by=by,
                ruled_at=now,
                ruling_note=note,
            )
        )
        review.refresh_from_db()
        if not ruled:
            who = review.ruled_by.get_username() if review.ruled_by_id else "nobody"
            raise SecondReviewConflict(
                f"This disagreement is not waiting for a ruling (ruled by {who})."
            )
        audit_record(
            action="second_review.rule",
            actor=by,
            obj=review,
            object_repr=f"Ruling on {REVIEW_KINDS[review.kind].label.lower()} {review.item_id}",
            after=review.audit_snapshot(),
            origin=origin,
        )
        _item_takes_ruling(review, by=by, reason_code=reason_code, note=note, origin=origin)
    return review


def _item_takes_ruling(review, *, by, reason_code, note, origin) -> None:
    kind = REVIEW_KINDS[review.kind]
    item = kind.model.objects.get(pk=review.item_id)
    if item.review_status == review.ruling:
        return
    before = item.audit_snapshot()
    item.review_status = review.ruling
    item.reviewed_by = by
    item.reviewed_at = review.ruled_at
    item.review_reason_code = reason_code if review.ruling == "rejected" else ""
    item.review_note = f"Ruling on a second review: {note}"
    item.save(
        update_fields=[
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "review_reason_code",
            "review_note",
        ]
    )
    outbox.enqueue(f"{kind.name}.{review.ruling}", [kind.webhook_data(item)])
    audit_record(
        action=f"{kind.name}.overrule",
        actor=by,
        obj=item,
        before=before,
        after=item.audit_snapshot(),
        origin=origin,
    )
    transaction.on_commit(partial(live.announce_decisions, [item.pk], kind.name))


# Rules' decisions, sampled by the stream worker.


def sample_rule_decisions(stop=None, now=None) -> int:
    """Sample the rules' automatic approvals and filters since the last run; returns how
    many were sent to officers."""
    options = OversightSettings.current()
    settled = (now or timezone.now()) - RULE_SAMPLE_SETTLE
    through, sent = options.rules_sampled_through, 0
    while True:
        rows = list(
            Insight.objects.filter(pk__gt=through, received_at__lt=settled)
            .order_by("pk")
            .values_list("pk", "stream_id", "review_status", "review_rule", "reviewed_at")[
                :RULE_SAMPLE_BATCH
            ]
        )
        if not rows:
            break
        chosen = [
            SecondReview(
                kind="insight",
                item_id=pk,
                stream_id=stream_id,
                source=SecondReview.Source.RULE,
                first_status=status,
                first_rule=rule[:200],
                first_at=reviewed_at,
            )
            for pk, stream_id, status, rule, reviewed_at in rows
            if rule
            and status in ("approved", "filtered")
            and draw("insight", pk, "rule") * 100 < options.rule_share
        ]
        with transaction.atomic():
            SecondReview.objects.bulk_create(chosen, ignore_conflicts=True)
            through = rows[-1][0]
            OversightSettings.objects.filter(pk=options.pk).update(rules_sampled_through=through)
        sent += len(chosen)
        if stop is not None:
            stop.check()
    return sent


async def rule_sampler(worker: str) -> None:
    """(A stream worker task.) Sample rule decisions every few minutes."""
    await every_period("oversight-rule-sample", RULE_SAMPLE_SECONDS, worker, _sample_logged)


def _sample_logged(stop) -> None:
    sent = sample_rule_decisions(stop)
    if sent:
        logger.info("oversight: %d rule decision(s) sent for a blind officer review", sent)

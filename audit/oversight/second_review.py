"""The blind second review, page by page: the next item for a second officer (held for them
a while, never their own decision), what they see of it (the item as it arrived, nothing of
the first decision), their answer beside the first, and a governance admin's ruling where
the two differ (never about the admin's own decision); a ruling that differs from the item's
decision is applied by the review (`ruling_differs`)."""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.oversight import blind
from audit.oversight.models import ITEM_LABELS, ITEM_MODELS, SecondReview, trained_check
from audit.trail.record import Origin, audit_record
from audit.vocabulary import NOTE_MAX_LENGTH, reason_code_check, type_label, typed
from streams.models import ChangeRequest, Insight, Reviewable

logger = logging.getLogger(__name__)
HOLD_MINUTES = 10  # how long a second review stays with the officer who opened it
DECIDED = (Reviewable.ReviewStatus.APPROVED, Reviewable.ReviewStatus.REJECTED)
# A ruling that is not the item's decision: the review applies it to the item (its decision,
# webhook, audit entry and pages), in the ruling's transaction.
ruling_differs = Signal()


class SecondReviewConflict(Exception):
    """Someone else answered or ruled first, or the reviewer may not answer this one."""


def next_for(user, now=None, after: int | None = None) -> SecondReview | None:
    """The second review `user` holds, or the oldest one waiting that is not theirs to
    begin with (held for HOLD_MINUTES, so two officers do not answer one item); `after` an
    id, the oldest after it first (the one they just left for someone else comes last)."""
    now = now or timezone.now()
    if not blind.may_give_second_reviews(user):
        return None
    mine = SecondReview.objects.waiting().held_by(user, now).first()
    if mine is not None:
        return mine
    open_to_user = SecondReview.objects.for_second_officer(user).open_to(user, now)
    hold = {"holder": user, "held_until": now + timedelta(minutes=HOLD_MINUTES)}
    ordered = open_to_user.order_by("id").values_list("id", flat=True)
    candidates = [*ordered.filter(id__gt=after)[:20], *ordered[:20]] if after else ordered[:20]
    for candidate in candidates:
        if open_to_user.filter(pk=candidate).update(**hold):
            return SecondReview.objects.get(pk=candidate)
    return None


def release(*, review: SecondReview, by) -> bool:
    """`by` leaves the second review they hold for someone else."""
    released = SecondReview.objects.filter(pk=review.pk, holder=by).update(
        holder=None, held_until=None
    )
    return bool(released)


def items_of(reviews) -> dict[tuple[str, int], object]:
    """The items these second reviews are about, read in one query per kind."""
    wanted: dict[str, list[int]] = {}
    for review in reviews:
        wanted.setdefault(review.kind, []).append(review.item_id)
    return {
        (kind, item.pk): item
        for kind, ids in wanted.items()
        for item in ITEM_MODELS[kind].objects.select_related("stream").filter(pk__in=ids)
    }


def waiting_count(user) -> int:
    return SecondReview.objects.for_second_officer(user).count()


def to_rule_on(user):
    """The disagreements `user` may rule on (never about their own decision)."""
    return SecondReview.objects.for_adjudicator(user)


def waiting_for(user) -> dict:
    """What waits for `user`'s second look: second reviews, disagreements to rule on,
    other admins' configuration change requests (what their role lets them do)."""
    waiting = {}
    if blind.may_give_second_reviews(user):
        waiting["second_reviews"] = waiting_count(user)
    if user.has_perm("audit.adjudicate_secondreview"):
        waiting["disagreements"] = to_rule_on(user).count()
    if user.has_perm("streams.decide_changerequest"):
        pending = ChangeRequest.objects.pending().filter(expires_at__gte=timezone.now())
        waiting["change_requests"] = pending.exclude(author=user).count()
    return waiting


def blind_item(review: SecondReview, item=None, labels: dict | None = None) -> dict:
    """What the second officer sees: the item as it arrived, never the first decision,
    who made it, a correction or a note. `item` and the type `labels`, when the caller
    read them already (a page of several)."""
    if item is None:
        item = ITEM_MODELS[review.kind].objects.select_related("stream").get(pk=review.item_id)
    seen = {
        "kind": ITEM_LABELS[review.kind],
        "stream": item.stream.name,
        "text": item.original_text,
    }
    if isinstance(item, Insight):
        seen |= {
            "type": type_label(item.insight_type, labels),
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
    trained_check(by)
    if decision == "reject":
        reason_code_check(reason_code)
    note = typed(note, "note", NOTE_MAX_LENGTH)
    if not blind.may_give_second_reviews(by):
        raise SecondReviewConflict(
            "Your role sees first decisions while they wait, so a second review is not yours "
            "to give: an officer gives it."
        )
    status = "approved" if decision == "approve" else "rejected"
    now = timezone.now()
    with transaction.atomic():
        answered = (
            SecondReview.objects.for_second_officer(by)
            .open_to(by, now)
            .filter(pk=review.pk)
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
            object_repr=f"Second review of {ITEM_LABELS[review.kind].lower()} {review.item_id}",
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
    note = typed(note, "comment", NOTE_MAX_LENGTH)
    if not note:
        raise ValidationError("A ruling needs a comment: say why, for the officers and auditors.")
    if by.pk in (review.first_by_id, review.second_by_id):
        raise SecondReviewConflict(
            "This disagreement is about your own decision: another governance admin rules on it."
        )
    now = timezone.now()
    with transaction.atomic():
        ruled = (
            SecondReview.objects.for_adjudicator(by)
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
            object_repr=f"Ruling on {ITEM_LABELS[review.kind].lower()} {review.item_id}",
            after=review.audit_snapshot(),
            origin=origin,
        )
        item = ITEM_MODELS[review.kind].objects.get(pk=review.item_id)
        if item.review_status != review.ruling:  # the item takes the ruling (audit.review)
            ruling_differs.send(
                sender=SecondReview,
                review=review,
                item=item,
                by=by,
                reason_code=reason_code,
                note=note,
                origin=origin,
            )
    return review

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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import blind
from audit.exports import keyset_pages
from audit.models import ItemOpening, OversightSettings, SecondReview, StreamSampling
from audit.periodic import every_period
from audit.services import (
    NOTE_MAX_LENGTH,
    REVIEW_KINDS,
    Origin,
    _bounded,
    audit_record,
    decision_recorded,
    reason_code_check,
)
from audit.vocabulary import type_label
from streams.models import ChangeRequest, Insight, Reviewable

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
        for item in REVIEW_KINDS[kind].model.objects.select_related("stream").filter(pk__in=ids)
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
    kind = REVIEW_KINDS[review.kind]
    if item is None:
        item = kind.model.objects.select_related("stream").get(pk=review.item_id)
    seen = {"kind": kind.label, "stream": item.stream.name, "text": item.original_text}
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
    if decision == "reject":
        reason_code_check(reason_code)
    note = _bounded(note, "note", NOTE_MAX_LENGTH)
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
            object_repr=f"Ruling on {REVIEW_KINDS[review.kind].label.lower()} {review.item_id}",
            after=review.audit_snapshot(),
            origin=origin,
        )
        _item_takes_ruling(review, by=by, reason_code=reason_code, note=note, origin=origin)
    return review


def _item_takes_ruling(review, *, by, reason_code, note, origin) -> None:
    item = REVIEW_KINDS[review.kind].model.objects.get(pk=review.item_id)
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
    decision_recorded(item, verb="overrule", by=by, before=before, origin=origin)


# Rules' decisions, sampled by the stream worker.


def sample_rule_decisions(stop=None, now=None) -> int:
    """Sample the rules' automatic approvals and filters since the last run; returns how
    many were sent to officers."""
    options = OversightSettings.current()
    due = Insight.objects.filter(pk__gt=options.rules_sampled_through)
    # Nothing from the first insight received in the last minute on: ids are handed out
    # before commit, so a batch with lower ids may still be committing.
    settled = (now or timezone.now()) - RULE_SAMPLE_SETTLE
    recent = Insight.objects.filter(received_at__gte=settled).order_by("pk").first()
    if recent is not None:
        due = due.filter(pk__lt=recent.pk)
    fields = ("pk", "stream_id", "review_status", "review_rule", "reviewed_at")
    read = lambda page: list(page.values_list(*fields)[:RULE_SAMPLE_BATCH])  # noqa: E731
    sent = 0
    for rows in keyset_pages(due, read):
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
            OversightSettings.objects.filter(pk=options.pk).update(
                rules_sampled_through=rows[-1][0]
            )
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

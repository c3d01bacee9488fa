"""Erasing one conversation on a data subject's request: refused while a legal hold covers
it; otherwise its texts go from every place the product keeps them (streams.privacy.erase),
officers' words about its items too (second reviews, rulings), and its data key, and the
erasure is an audit entry with the request's reference, reason and counts per place.

The trail itself never held the customer's words (references, and commitments to officers'
words), so nothing in the chain changes and `verify_audit` passes after any erasure.

From the admin an erasure is asked by one person and carried out by a second; the `erase`
command (run by an operator with the database's keys in hand) carries it out at once."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from audit.oversight.models import SecondReview
from audit.privacy.models import ErasureRequest
from audit.trail.models import LegalHold
from audit.trail.record import Origin, audit_record
from audit.vocabulary import bounded
from streams import searchindex
from streams.models import Insight, KnowledgeQuery
from streams.privacy import current as privacy
from streams.privacy.erase import ERASED, conversation_texts

ERASE_PERMISSION = "streams.erase_subject"


class ErasureRefused(Exception):
    """The erasure cannot be carried out (a legal hold, the same person twice, its state)."""


def holds_on(conversation_id: str) -> list[LegalHold]:
    """The active legal holds that cover the conversation: on everything, on it, or on a
    stream that received it."""
    streams = Insight.objects.filter(interaction_id=conversation_id).values("stream_id")
    return list(
        LegalHold.objects.active()
        .filter(
            Q(scope=LegalHold.Scope.ALL)
            | Q(scope=LegalHold.Scope.INTERACTION, interaction_id=conversation_id)
            | Q(scope=LegalHold.Scope.STREAM, stream_id__in=streams)
        )
        .select_related("stream")
    )


def refusal(conversation_id: str) -> str:
    """Why the conversation cannot be erased now, or ""."""
    holds = holds_on(conversation_id)
    if not holds:
        return ""
    named = "; ".join(f"{hold} (placed for: {hold.reason})" for hold in holds)
    return (
        f"Conversation {conversation_id} cannot be erased: a legal hold covers it ({named}). "
        "Data under a legal hold must be kept (GDPR Art. 17(3)(e)); tell the data subject, "
        "and erase it once the hold is released."
    )


def _words(text: str, what: str, limit: int) -> str:
    return privacy.redacted(bounded(text, what, limit))


def erase_conversation(
    conversation_id: str,
    *,
    reason: str,
    reference: str = "",
    by=None,
    actor_label: str = "",
    requested_by: str = "",
    origin: Origin | None = None,
) -> dict[str, int]:
    """Erase now; returns the counts per place. Raises ErasureRefused under a legal hold."""
    conversation_id = conversation_id.strip()
    if not conversation_id:
        raise ValidationError("Name the conversation to erase (its Genesys conversation id).")
    reason = _words(reason, "reason", 300)
    if not reason:
        raise ValidationError("Say why: the data subject's request and its grounds.")
    reference = _words(reference, "reference", 100)
    with transaction.atomic():
        refused = refusal(conversation_id)
        if refused:
            raise ErasureRefused(refused)
        counts = conversation_texts(conversation_id)
        counts["officers' second reviews and rulings"] = _second_reviews(conversation_id)
        audit_record(
            action="privacy.erase",
            actor=by,
            actor_label=actor_label,
            object_type="conversation",
            object_id=conversation_id,
            object_repr=conversation_id[:200],
            after={
                "reference": reference,
                "reason": reason,
                "requested_by": requested_by or None,
                "counts": counts,
            },
            origin=origin,
        )
    searchindex.forget_removed_words()
    return counts


def _second_reviews(conversation_id: str) -> int:
    items = Q(
        kind="insight",
        item_id__in=Insight.objects.filter(interaction_id=conversation_id).values("pk"),
    ) | Q(
        kind="knowledge",
        item_id__in=KnowledgeQuery.objects.filter(conversation_id=conversation_id).values("pk"),
    )
    erased = lambda field: Case(  # noqa: E731
        When(~Q(**{field: ""}), then=Value(ERASED)), default=Value("")
    )
    return (
        SecondReview.objects.filter(items)
        .exclude(second_note="", ruling_note="")
        .update(second_note=erased("second_note"), ruling_note=erased("ruling_note"))
    )


# Four-eyes, from the admin


def request_erasure(
    *, conversation_id: str, reason: str, reference: str, by, origin: Origin | None = None
) -> ErasureRequest:
    if not by.has_perm(ERASE_PERMISSION):
        raise PermissionDenied
    conversation_id = conversation_id.strip()
    refused = refusal(conversation_id)
    if refused:
        raise ErasureRefused(refused)
    with transaction.atomic():
        request = ErasureRequest.objects.create(
            conversation_id=conversation_id,
            reason=_words(reason, "reason", 300),
            reference=_words(reference, "reference", 100),
            requested_by=by,
        )
        audit_record(
            action="privacy.erase_request",
            actor=by,
            obj=request,
            after=request.audit_snapshot(),
            origin=origin,
        )
    return request


def carry_out(request: ErasureRequest, *, by, origin: Origin | None = None) -> ErasureRequest:
    """The second person carries the request out (its status says what happened: erased,
    or refused because a legal hold was placed since it was asked)."""
    with transaction.atomic():
        current = _pending(request, by)
        if current.requested_by_id == by.pk:
            raise ErasureRefused(
                "You asked for this erasure: a second person with the permission to erase "
                "carries it out."
            )
        before = current.audit_snapshot()
        refused = refusal(current.conversation_id)
        if refused:
            _decide(current, ErasureRequest.Status.REFUSED, by, refused[:300], before, origin)
            return current
        counts = erase_conversation(
            current.conversation_id,
            reason=current.reason,
            reference=current.reference or f"erasure request {current.pk}",
            by=by,
            requested_by=current.requested_by.get_username(),
            origin=origin,
        )
        current.counts = counts
        _decide(current, ErasureRequest.Status.ERASED, by, "", before, origin, verb="carry_out")
    return current


def decline(request: ErasureRequest, *, by, comment: str, origin: Origin | None = None):
    comment = _words(comment, "comment", 300)
    with transaction.atomic():
        current = _pending(request, by)
        if not comment and current.requested_by_id != by.pk:
            raise ValidationError("Say why you decline it: the person who asked reads it.")
        before = current.audit_snapshot()
        _decide(current, ErasureRequest.Status.DECLINED, by, comment, before, origin)
    return current


def _pending(request: ErasureRequest, by) -> ErasureRequest:
    if not by.has_perm(ERASE_PERMISSION):
        raise PermissionDenied
    current = ErasureRequest.objects.select_for_update().get(pk=request.pk)
    if current.status != ErasureRequest.Status.PENDING:
        raise ErasureRefused(
            f"Erasure request {current.pk} is no longer waiting: "
            f"{current.get_status_display().lower()}."
        )
    if current.expires_at < timezone.now():
        raise ErasureRefused(
            f"Erasure request {current.pk} expired unanswered; ask again if it still stands."
        )
    return current


def _decide(current, status, by, comment, before, origin, verb: str = "") -> None:
    current.status = status
    current.decided_by = by
    current.decided_at = timezone.now()
    current.comment = comment
    current.save()
    audit_record(
        action=f"privacy.erase_{verb or status}",
        actor=by,
        obj=current,
        before=before,
        after=current.audit_snapshot(),
        origin=origin,
    )

"""Governance workflows: review decisions and audit entries. Every caller goes through here."""

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEntry, ReasonCode
from streams import live
from streams.genesys.frames import scrub_nul
from streams.knowledge.search import knowledge_review_data
from streams.models import Insight, KnowledgeQuery, Reviewable
from streams.webhooks import outbox

NOTE_MAX_LENGTH = 2000
PENDING_SNAPSHOT = Insight(review_status=Reviewable.ReviewStatus.PENDING).audit_snapshot()


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the client's address and the request's id."""

    client_address: str | None = None
    request_id: str = ""

    @classmethod
    def from_request(cls, request) -> "Origin":
        if request is None:
            return cls()
        return cls(_address(request.META.get("REMOTE_ADDR")), getattr(request, "request_id", ""))

    @classmethod
    def from_scope(cls, scope) -> "Origin":
        """For WebSocket messages: each gets its own id."""
        client = scope.get("client") or (None, None)
        return cls(_address(client[0]), uuid.uuid4().hex)


def _address(value) -> str | None:
    try:
        return str(ipaddress.ip_address(value or ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class ReviewKind:
    """One kind of reviewable item: what it is called, who may see and decide it, what it
    reports."""

    name: str  # "insight" or "knowledge": audit actions and webhook events start with it
    label: str
    model: type
    view_permission: str
    permission: str  # to decide
    webhook_data: Callable


REVIEW_KINDS = {
    "insight": ReviewKind(
        "insight",
        "Insight",
        Insight,
        "streams.view_insight",
        "streams.review_insight",
        outbox.insight_data,
    ),
    "knowledge": ReviewKind(
        "knowledge",
        "Knowledge answer",
        KnowledgeQuery,
        "streams.view_knowledgequery",
        "streams.review_knowledgequery",
        knowledge_review_data,
    ),
}


def review_kind(item) -> ReviewKind:
    return next(kind for kind in REVIEW_KINDS.values() if isinstance(item, kind.model))


class DecisionConflict(Exception):
    """Someone decided the item first (or it is not for review); the first decision stands."""

    def __init__(self, item):
        self.item = item
        self.kind = review_kind(item)
        if not item.review_status:
            super().__init__(f"{self.kind.label} {item.pk} is not for review.")
            return
        if item.reviewed_by_id:
            who = item.reviewed_by.get_username()
        else:
            who = item.review_rule or "the system"
        when = timezone.localtime(item.reviewed_at).strftime("%Y-%m-%d %H:%M:%S")
        super().__init__(
            f"{self.kind.label} {item.pk} was already {item.review_status} by {who} at {when}."
        )


def audit_record(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    origin: Origin | None = None,
) -> AuditEntry:
    """Append an audit entry to the chain. `actor` is a user; system components give a label."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk or "")
        object_repr = object_repr or str(obj)
    origin = origin or Origin()
    user = actor if actor is not None and actor.is_authenticated else None
    return chain.append(
        AuditEntry(
            actor=user,
            actor_label=actor_label or (user.get_username() if user is not None else "system"),
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr[:200],
            before=before,
            after=after,
            client_address=origin.client_address,
            request_id=origin.request_id,
        )
    )


def item_approve(*, item, by, note: str = "", origin: Origin | None = None):
    """Approve a pending insight or knowledge answer; raises DecisionConflict if decided."""
    return _item_decide(
        item,
        status=Reviewable.ReviewStatus.APPROVED,
        by=by,
        reason_code="",
        note=note,
        origin=origin,
    )


def item_reject(*, item, by, reason_code: str, note: str = "", origin: Origin | None = None):
    """Reject with one of the active reason codes (ValidationError otherwise)."""
    if not ReasonCode.objects.active().filter(code=reason_code or "").exists():
        codes = ", ".join(ReasonCode.objects.active().values_list("code", flat=True))
        raise ValidationError(
            f"A rejection needs a reason code: {reason_code!r} is not one of {codes}."
            if reason_code
            else f"A rejection needs a reason code: one of {codes}."
        )
    return _item_decide(
        item,
        status=Reviewable.ReviewStatus.REJECTED,
        by=by,
        reason_code=reason_code,
        note=note,
        origin=origin,
    )


def _item_decide(item, *, status: str, by, reason_code: str, note: str, origin: Origin | None):
    kind = review_kind(item)
    note = scrub_nul((note or "").strip())
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            f"The note is {len(note)} characters; the limit is {NOTE_MAX_LENGTH}."
        )
    with transaction.atomic():
        # A conditional UPDATE: of two officers deciding at once, exactly one changes the row.
        decided = (
            kind.model.objects.filter(pk=item.pk)
            .pending()
            .update(
                review_status=status,
                reviewed_by=by,
                reviewed_at=timezone.now(),
                review_reason_code=reason_code,
                review_note=note,
            )
        )
        item.refresh_from_db()
        if not decided:
            raise DecisionConflict(item)
        verb = "approve" if status == Reviewable.ReviewStatus.APPROVED else "reject"
        outbox.enqueue(f"{kind.name}.{status}", [kind.webhook_data(item)])
        audit_record(
            action=f"{kind.name}.{verb}",
            actor=by,
            obj=item,
            before=PENDING_SNAPSHOT,
            after=item.audit_snapshot(),
            origin=origin,
        )
        transaction.on_commit(partial(live.announce_decisions, [item.pk], kind.name))
    return item

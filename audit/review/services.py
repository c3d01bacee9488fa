"""Decisions on items: approving and rejecting one (the first decision wins, a claim is
respected, a resend is applied once), in bulk page by page, and what every decision does
(its webhook, the verdict to Genesys, its audit entry, the review pages' update); and when an
officer first opened an item, the start of their decision time. Every caller (the page's
socket, the admin, a ruling) goes through here."""

import dataclasses
from dataclasses import dataclass, field
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit.formats import people_time
from audit.oversight import blind, sampling
from audit.oversight.models import trained_check
from audit.oversight.second_review import ruling_differs
from audit.review.claims import parse_keys
from audit.review.kinds import REVIEW_KINDS, review_kind
from audit.review.models import ItemOpening
from audit.review.queue import Cursor, parse_sort, queue_count, review_page
from audit.trail.record import Origin, audit_record
from audit.vocabulary import (
    CORRECTION_MAX_LENGTH,
    NOTE_MAX_LENGTH,
    ReasonCode,
    reason_code_check,
    type_label,
    typed,
)
from streams import live
from streams.models import Insight, KnowledgeQuery, Reviewable
from streams.webhooks import genesys, outbox

PENDING_SNAPSHOT = Insight(review_status=Reviewable.ReviewStatus.PENDING).audit_snapshot()


class DecisionConflict(Exception):
    """Someone decided the item first (or it is not for review); the first decision stands."""

    def __init__(self, item):
        self.item = item
        self.kind = review_kind(item)
        if not item.review_status:
            super().__init__(f"{self.kind.label} {item.pk} is not for review.")
            return
        if item.review_status == Reviewable.ReviewStatus.PENDING and item.claimed_by_id:
            who, until = item.claimed_by.get_username(), people_time(item.claimed_until)
            super().__init__(
                f"{self.kind.label} {item.pk} is claimed by {who} until {until}: leave it to "
                "them, or ask a lead to reassign it."
            )
            return
        if item.reviewed_by_id:
            who = item.reviewed_by.get_username()
        else:
            who = item.review_rule or "the system"
        super().__init__(
            f"{self.kind.label} {item.pk} was already {item.review_status} by {who} at "
            f"{people_time(item.reviewed_at)}."
        )

    def hidden_words(self) -> str:
        """The message for someone the first decision is hidden from (audit.oversight.blind)."""
        return (
            f"{self.kind.label} {self.item.pk} was already decided; it waits for a blind second "
            "review, so its decision is not shown."
        )

    def words_for(self, viewer_id: int | None) -> str:
        hidden = blind.is_hidden(self.kind.name, self.item.pk, viewer_id)
        return self.hidden_words() if hidden else str(self)


def item_approve(
    *,
    item,
    by,
    note: str = "",
    corrected_text: str = "",
    decision_id: str = "",
    origin: Origin | None = None,
):
    """Approve a pending insight or knowledge answer, with a corrected text if the officer
    fixed it (the text as received is kept); raises DecisionConflict if someone decided it
    first or holds it. `decision_id` is the page's id of the decision: a resend of one
    already applied returns the item (`item.resent` true) instead of a second decision."""
    return _item_decide(
        item,
        status=Reviewable.ReviewStatus.APPROVED,
        by=by,
        reason_code="",
        note=note,
        corrected_text=corrected_text,
        decision_id=decision_id,
        origin=origin,
    )


def item_reject(
    *,
    item,
    by,
    reason_code: str,
    note: str = "",
    decision_id: str = "",
    origin: Origin | None = None,
):
    """Reject with one of the active reason codes offered for the item's type
    (ValidationError otherwise)."""
    reason_code_check(reason_code, item_type(item))
    return _item_decide(
        item,
        status=Reviewable.ReviewStatus.REJECTED,
        by=by,
        reason_code=reason_code,
        note=note,
        decision_id=decision_id,
        origin=origin,
    )


def item_type(item) -> str:
    """An item's type as reason codes name it (knowledge answers have one type)."""
    return getattr(item, "insight_type", None) or KnowledgeQuery.REVIEW_TYPE


def _item_decide(
    item,
    *,
    status: str,
    by,
    reason_code: str,
    note: str,
    corrected_text: str = "",
    decision_id: str = "",
    origin: Origin | None,
):
    kind = review_kind(item)
    trained_check(by)
    note = typed(note, "note", NOTE_MAX_LENGTH)
    corrected_text = typed(corrected_text, "corrected text", CORRECTION_MAX_LENGTH)
    if corrected_text == item.original_text:
        corrected_text = ""  # unchanged: nothing was corrected
    now = timezone.now()
    with transaction.atomic():
        opened_at = opened_at_of(user=by, kind=kind.name, item_id=item.pk)
        # A conditional UPDATE: of two officers deciding at once, exactly one changes the row;
        # an item another officer holds is theirs to decide. The decision ends the claim.
        decided = (
            kind.model.objects.filter(pk=item.pk)
            .pending()
            .claimable_by(by, now)
            .update(
                review_status=status,
                reviewed_by=by,
                reviewed_at=now,
                review_reason_code=reason_code,
                review_note=note,
                corrected_text=corrected_text,
                review_decision_id=decision_id[:64],
                review_opened_at=opened_at,
                **kind.model.UNCLAIMED,
            )
        )
        item.refresh_from_db()
        item.resent = False
        if not decided:
            if decision_id and item.review_decision_id == decision_id[:64]:
                item.resent = True  # the page sent it again after a reconnect: applied once
                return item
            raise DecisionConflict(item)
        verb = "approve" if status == Reviewable.ReviewStatus.APPROVED else "reject"
        decision_recorded(item, verb=verb, by=by, before=PENDING_SNAPSHOT, origin=origin)
        sampling.sample_decision(item, kind.name)
    return item


def decision_recorded(item, *, verb: str, by, before: dict, origin: Origin | None) -> None:
    """(Inside the transaction that changed an item's decision.) What every decision does:
    its webhook, the verdict to Genesys where the stream sends them, its audit entry, and
    the review pages' update once it commits."""
    kind = review_kind(item)
    event = (
        outbox.insight_event(item.insight_type, item.review_status)
        if kind.name == "insight"
        else f"{kind.name}.{item.review_status}"
    )
    outbox.enqueue(event, [kind.webhook_data(item)])
    if kind.name == "insight":
        genesys.enqueue_verdict(item, by_label=by.get_username())
    elif kind.name == "knowledge":
        genesys.enqueue_document_feedback(item, by_label=by.get_username())
    audit_record(
        action=f"{kind.name}.{verb}",
        actor=by,
        obj=item,
        before=before,
        after=item.audit_snapshot(),
        origin=origin,
    )
    transaction.on_commit(partial(live.announce_decisions, [item.pk], kind.name))


BULK_PAGE = 200


@dataclass
class BulkResult:
    """What a bulk decision did: how many items it decided, and why it left others."""

    total: int
    decided: int = 0
    skipped: list[str] = field(default_factory=list)


class BulkDecision:
    """Approve or reject these `keys`, or every pending item `filters` match, with one
    reason and note. Each item gets its own decision, audit entry and webhook; each page of
    items is one transaction (`step`), so a bulk stopped half-way leaves whole pages
    decided, and a caller can report progress between pages. Items someone else decided or
    holds meanwhile are left, each with the reason."""

    def __init__(
        self,
        *,
        by,
        decision: str,
        reason_code: str = "",
        note: str = "",
        keys=None,
        filters=None,
        origin: Origin | None = None,
        page_size: int | None = None,
    ):

        if decision not in ("approve", "reject"):
            raise ValidationError("decision must be approve or reject")
        if decision == "reject":
            reason_code_check(reason_code)
        self.by, self.origin = by, origin
        self.status = (
            Reviewable.ReviewStatus.APPROVED
            if decision == "approve"
            else Reviewable.ReviewStatus.REJECTED
        )
        self.reason_code = reason_code if decision == "reject" else ""
        self.reason = ReasonCode.objects.get(code=reason_code) if decision == "reject" else None
        self.note = typed(note, "note", NOTE_MAX_LENGTH)
        page_size = page_size or BULK_PAGE
        if keys is not None:
            by_kind = parse_keys(keys)
            self._pages = _key_pages(by_kind, page_size)
            self.result = BulkResult(total=sum(len(ids) for ids in by_kind.values()))
        else:
            pending = dataclasses.replace(filters, status="pending", scope="queue")
            self._pages = _filter_pages(pending, page_size)
            self.result = BulkResult(total=queue_count(pending)[0])

    def step(self) -> bool:
        """Decide the next page of items, in one transaction; False once none is left."""
        items = next(self._pages, None)
        if items is None:
            return False
        with transaction.atomic():
            for item in items:
                if self.reason is not None and not self.reason.fits(item_type(item)):
                    self.result.skipped.append(
                        f"{type_label(item_type(item))} {item.pk}: the reason "
                        f"{self.reason.label!r} is not one for its type"
                    )
                    continue
                try:
                    _item_decide(
                        item,
                        status=self.status,
                        by=self.by,
                        reason_code=self.reason_code,
                        note=self.note,
                        origin=self.origin,
                    )
                    self.result.decided += 1
                except DecisionConflict as exc:
                    self.result.skipped.append(str(exc))
        return True

    def run(self) -> BulkResult:
        while self.step():
            pass
        return self.result


def items_decide_bulk(**how) -> BulkResult:
    """A bulk decision, all pages at once (see BulkDecision)."""
    return BulkDecision(**how).run()


def _key_pages(by_kind: dict[str, list[int]], page_size: int):
    for kind, ids in by_kind.items():
        model = REVIEW_KINDS[kind].model
        for start in range(0, len(ids), page_size):
            chunk = ids[start : start + page_size]
            yield list(model.objects.filter(pk__in=chunk).order_by("pk"))


def _filter_pages(filters, page_size: int):
    """Pages of the pending items `filters` match, each read after the previous one's last
    row: decided items leave the queue, and the ones left behind are not read again."""

    after = None
    while True:
        page = review_page(filters, after=after, limit=page_size, counted=False)
        rows = page["items"]
        if not rows:
            return
        by_kind: dict[str, list[int]] = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(row["id"])
        items = []
        for kind, ids in by_kind.items():
            items += list(REVIEW_KINDS[kind].model.objects.filter(pk__in=ids).order_by("pk"))
        yield items
        after = Cursor.parse(rows[-1]["cursor"], parse_sort(page["sort"]))


def item_opened(*, user, kind: str, item_id: int) -> None:
    """Note when `user` first opened the item (their decision time starts there)."""
    ItemOpening.objects.bulk_create(
        [ItemOpening(user=user, kind=kind, item_id=item_id)], ignore_conflicts=True
    )


def opened_at_of(*, user, kind: str, item_id: int):
    """(At the decision.) When the deciding officer opened the item; forgets every opening of
    it, since nobody decides it again."""
    openings = ItemOpening.objects.filter(kind=kind, item_id=item_id)
    found = list(openings.values_list("user_id", "opened_at"))
    if found:
        openings.delete()
    return next((when for who, when in found if who == user.pk), None)


@receiver(ruling_differs, dispatch_uid="review-item-takes-ruling")
def item_takes_ruling(sender, *, review, item, by, reason_code, note, origin, **kwargs) -> None:
    """(Inside the ruling's transaction.) A governance admin's ruling on a disagreement
    that is not the item's decision becomes its decision: audited as an overrule, with its
    webhook and the pages' update."""
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

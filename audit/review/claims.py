"""Work shared, not raced: officers claim items for a while, leads assign them.

A claim is two columns on the item (who, until when), taken by conditional UPDATEs as the
stream leases are: of two officers claiming at once, each row goes to exactly one. Claimed
items are left out of other officers' "claim next", and nobody else may decide them until
the claim is released (a decision, "release", signing out) or runs out. Every claim,
assignment, skip and release is an audit entry on the item."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit.formats import people_time
from audit.review.kinds import REVIEW_KINDS
from audit.review.models import WorkspaceSettings
from audit.trail.record import Origin, audit_record
from streams import live
from streams.live import INSIGHT, KNOWLEDGE

# Candidates are re-read this many times when other officers win some of them meanwhile.
CLAIM_ROUNDS = 5


@dataclass
class Claimed:
    """What a claim or an assignment took: item keys ("insight:12"), and until when."""

    until: datetime
    keys: list[str] = field(default_factory=list)

    def message(self) -> str:
        if not self.keys:
            return "Nothing to claim: every item these filters match is decided or claimed."
        return f"{len(self.keys)} item(s) are yours until {people_time(self.until)}."


def parse_keys(keys) -> dict[str, list[int]]:
    """{"insight": [ids], "knowledge": [ids]} from ["insight:12", ...] (ValidationError)."""
    by_kind: dict[str, list[int]] = {INSIGHT: [], KNOWLEDGE: []}
    for key in keys or []:
        kind, _, number = str(key).partition(":")
        if kind not in by_kind or not number.isdigit() or len(number) > 18:
            raise ValidationError(f"{str(key)[:40]!r} is not an item of the queue")
        by_kind[kind].append(int(number))
    return by_kind


def items_claim_next(
    *, by, filters, sort=None, count: int | None = None, origin: Origin | None = None
):
    """Claim the next `count` (default: the workspace setting) pending items that `filters`
    match and nobody holds, in the order the officer sees them (`sort`)."""
    settings = WorkspaceSettings.current()
    count = count or settings.claim_size
    until = timezone.now() + timedelta(minutes=settings.claim_minutes)
    return _take(by, filters, sort, count, until, holder=by, action="claim", origin=origin)


def items_assign(
    *,
    by,
    to,
    filters=None,
    sort=None,
    keys=None,
    count: int | None = None,
    origin: Origin | None = None,
):
    """A lead gives items to an officer: these `keys`, or the next `count` of `filters`.
    Assigned items are the officer's for the assignment length, whoever held them."""
    settings = WorkspaceSettings.current()
    until = timezone.now() + timedelta(hours=settings.assignment_hours)
    if keys is not None:
        claimed = Claimed(until)
        for kind, ids in parse_keys(keys).items():
            claimed.keys += _hold(kind, ids, to, until, by, "assign", origin, take_over=True)
        return claimed
    count = count or settings.claim_size
    return _take(by, filters, sort, count, until, holder=to, action="assign", origin=origin)


def _take(by, filters, sort, count: int, until, *, holder, action: str, origin) -> Claimed:
    from audit.review.queue import review_page

    now = timezone.now()
    free = _free_pending(filters)
    claimed, tried = Claimed(until), set()
    for _ in range(CLAIM_ROUNDS):
        wanted = count - len(claimed.keys)
        rows = [
            row
            for row in review_page(free, sort=sort, limit=wanted + len(tried), counted=False)[
                "items"
            ]
            if row["key"] not in tried
        ][:wanted]
        if not rows:
            break
        tried.update(row["key"] for row in rows)
        for kind, ids in parse_keys([row["key"] for row in rows]).items():
            assigner = by if action == "assign" else None
            claimed.keys += _hold(
                kind, ids, holder, until, assigner, action, origin, now=now, take_over=False
            )
        if len(claimed.keys) >= count:
            break
    return claimed


def _free_pending(filters):
    import dataclasses

    return dataclasses.replace(filters, status="pending", scope="free")


def _hold(
    kind: str, ids, holder, until, assigner, action, origin, *, now=None, take_over: bool
) -> list[str]:
    """Hold these items for `holder` with one conditional UPDATE; returns the keys won."""
    if not ids:
        return []
    review_kind = REVIEW_KINDS[kind]
    now = now or timezone.now()
    with transaction.atomic():
        candidates = review_kind.model.objects.filter(pk__in=ids).pending()
        if not take_over:
            candidates = candidates.claimable_by(holder, now)
        candidates.update(
            claimed_by=holder,
            claimed_until=until,
            claim_assigned_by=assigner,
            claim_deferred_at=None,
        )
        won = list(
            review_kind.model.objects.filter(
                pk__in=ids, claimed_by=holder, claimed_until=until
            ).order_by("pk")
        )
        for item in won:
            audit_record(
                action=f"{kind}.{action}",
                actor=assigner or holder,
                obj=item,
                after={
                    "claimed_by": holder.get_username(),
                    "claimed_until": until.isoformat(),
                    **({"assigned_by": assigner.get_username()} if assigner else {}),
                },
                origin=origin,
            )
        transaction.on_commit(partial(live.announce_claims, [i.pk for i in won], kind))
    return [f"{kind}:{item.pk}" for item in won]


def claims_release(*, by, keys=None, reason: str = "released", origin: Origin | None = None) -> int:
    """Give back `by`'s claims on these items (all of them without `keys`); returns how
    many were released."""
    released = 0
    now = timezone.now()
    selected = parse_keys(keys) if keys is not None else None
    for kind, review_kind in REVIEW_KINDS.items():
        held = review_kind.model.objects.pending().claimed_by_user(by, now)
        if selected is not None:
            held = held.filter(pk__in=selected[kind])
        with transaction.atomic():
            items = list(held.select_for_update())
            if not items:
                continue
            review_kind.model.objects.filter(pk__in=[i.pk for i in items], claimed_by=by).update(
                **review_kind.model.UNCLAIMED
            )
            for item in items:
                audit_record(
                    action=f"{kind}.release",
                    actor=by,
                    obj=item,
                    after={"reason": reason},
                    origin=origin,
                )
            transaction.on_commit(partial(live.announce_claims, [i.pk for i in items], kind))
            released += len(items)
    return released


def item_skip(*, by, key: str, origin: Origin | None = None) -> bool:
    """Move one of `by`'s claimed items to the end of their claim; False if not theirs."""
    ((kind, ids),) = [(k, v) for k, v in parse_keys([key]).items() if v]
    review_kind = REVIEW_KINDS[kind]
    now = timezone.now()
    with transaction.atomic():
        skipped = (
            review_kind.model.objects.filter(pk__in=ids)
            .pending()
            .claimed_by_user(by, now)
            .update(claim_deferred_at=now)
        )
        if skipped:
            item = review_kind.model.objects.get(pk=ids[0])
            audit_record(action=f"{kind}.skip", actor=by, obj=item, origin=origin)
            transaction.on_commit(partial(live.announce_claims, ids, kind))
    return bool(skipped)


@receiver(user_logged_out, dispatch_uid="release-claims-on-sign-out")
def release_claims(sender, *, request, user, **kwargs):
    """An officer who signs out leaves nothing held: their claims go back to the queue."""
    if user is not None:
        claims_release(by=user, reason="signed out", origin=Origin.from_request(request))

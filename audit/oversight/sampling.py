"""Which decisions go to a blind second review: people's, by a keyed draw in the share set
for their stream and verdict; the rules', sampled by a stream worker every few minutes.

The draw is an HMAC of the item under the deployment's secret key, not a random number: the
same item is always in or out, so a sample can be recomputed for an auditor, and an officer
cannot tell in advance which of their decisions will be looked at again."""

import hashlib
import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit.oversight.models import OversightSettings, SecondReview, StreamSampling
from audit.trail.csvfiles import keyset_pages
from audit.trail.periodic import every_period
from audit.trail.retention import items_purged
from streams.models import Insight, Reviewable

logger = logging.getLogger(__name__)

RULE_SAMPLE_SECONDS = 300.0
RULE_SAMPLE_BATCH = 5000
# Rule decisions younger than this are not sampled yet: an ingest batch with lower ids may
# still be committing.
RULE_SAMPLE_SETTLE = timedelta(minutes=1)


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


@receiver(items_purged, dispatch_uid="oversight-second-reviews-purged")
def second_reviews_purged(sender, *, kind: str, ids: list[int], **kwargs) -> dict:
    """(Inside the purge's batch.) Items past their retention take their second looks with
    them."""
    removed = SecondReview.objects.filter(kind=kind, item_id__in=ids).delete()[0]
    return {"second_reviews": removed}

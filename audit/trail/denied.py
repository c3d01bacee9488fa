"""Refusals from people nobody knows, counted and summarised instead of written one by one.

A flood of anonymous socket handshakes, bad API tokens or tries at a locked sign-in would
otherwise write an audit entry each: the trail would fill with an attacker's noise. They are
counted per source address, minute and kind (`DeniedTally`); each minute that has ended
becomes one audit entry with its count, written by a stream worker every minute. Refusals
of a signed-in person stay entries of their own: someone with an account tried something."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.trail.models import DeniedTally
from audit.trail.periodic import every_period
from audit.trail.record import audit_record

ACTION = "security.denied_summary"
SUMMARY_SECONDS = 60.0


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def tally(*, source: str | None, what: str, where: str = "", now: datetime | None = None) -> None:
    """Count one refusal (in its own small transaction: never a chain write)."""
    key = {"source": source or "", "minute": _minute(now or timezone.now()), "what": what[:120]}
    with transaction.atomic():
        if DeniedTally.objects.filter(**key).update(count=F("count") + 1):
            return
        try:
            with transaction.atomic():
                DeniedTally.objects.create(**key, count=1, example=where[:200])
        except IntegrityError:  # another request counted the first one of this minute
            DeniedTally.objects.filter(**key).update(count=F("count") + 1)


def summarise(now: datetime | None = None) -> int:
    """Write one audit entry per source, minute and kind for every minute that has ended,
    and forget their tallies; returns how many entries were written."""
    current = _minute(now or timezone.now())
    written = 0
    with transaction.atomic():
        done = list(DeniedTally.objects.filter(minute__lt=current).order_by("minute", "source"))
        for row in done:
            audit_record(
                action=ACTION,
                actor_label="not signed in",
                object_type="url",
                object_repr=f"{row.count} {row.what} from {row.source or 'an unknown address'}",
                after={
                    "source": row.source or None,
                    "minute": row.minute.isoformat(),
                    "until": (row.minute + timedelta(minutes=1)).isoformat(),
                    "what": row.what,
                    "count": row.count,
                    "first_address_asked": row.example,
                },
            )
            written += 1
        DeniedTally.objects.filter(pk__in=[row.pk for row in done]).delete()
    return written


async def denied_summariser(worker: str) -> None:
    """(A stream worker task.) Summarise the ended minutes every minute."""
    await every_period("denied-summary", SUMMARY_SECONDS, worker, lambda stop: summarise())

"""Figures a DPO watches: how much personal data was found, per kind and day, and who
revealed originals (from the audit trail)."""

from datetime import timedelta

from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.text import capfirst

from audit.trail.models import AuditEntry
from streams.privacy import detect
from streams.privacy.models import DetectionCount


def detections(days: int = 14) -> dict:
    """Per day (newest first), the count per kind; and the kinds that appear, in order."""
    since = timezone.localdate() - timedelta(days=days - 1)
    rows = DetectionCount.objects.filter(day__gte=since).values_list("day", "kind", "count")
    by_day: dict = {}
    for day, kind, count in rows:
        by_day.setdefault(day, {})[kind] = count
    kinds = [kind for kind in detect.KINDS if any(kind in d for d in by_day.values())]
    return {
        "kinds": [(kind, capfirst(detect.KIND_WORDS[kind])) for kind in kinds],
        "days": [
            {"day": day, "counts": [by_day[day].get(kind, 0) for kind in kinds]}
            for day in sorted(by_day, reverse=True)
        ],
        "total": DetectionCount.objects.filter(day__gte=since).aggregate(n=Sum("count"))["n"] or 0,
    }


def reveals(days: int = 30) -> list[dict]:
    """Who revealed originals in the last `days`, most first."""
    since = timezone.now() - timedelta(days=days)
    return list(
        AuditEntry.objects.filter(action="privacy.reveal", created_at__gte=since)
        .values("actor_label")
        .annotate(count=Count("pk"))
        .order_by("-count", "actor_label")
    )

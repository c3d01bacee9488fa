"""What a proposed confidence matrix would have done to the last days' insights: before a
second admin accepts a change that discards or decides items automatically, the change
request says how many items of each type it would have affected.

Counted in the database (conditional counts over the stored insights of the streams that
use the matrix), for the insights whose fate the change alters: kept out (not stored),
recorded as filtered, approved automatically, or held for review."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from streams.ingest.models import Insight

DAYS = 7
FATES = {
    "not_stored": "would not have been stored",
    "filtered": "would have been recorded as filtered",
    "approved": "would have been approved automatically",
    "review": "would have been held for review",
}


def _fate(rule: dict | None) -> dict[str, Q] | None:
    """Which confidences a rule (a snapshot) sends where; None: no rule, all reviewed."""
    if rule is None:
        return None
    low, high, auto = rule["min_confidence"], rule["max_confidence"], rule["auto_approve_at"]
    below, above = Q(confidence__lt=low), Q(confidence__gt=high)
    inside = Q(confidence__gte=low, confidence__lte=high)
    fates = {"not_stored": above if rule["auto_filter"] else above | below}
    if rule["auto_filter"]:
        fates["filtered"] = below
    if auto is not None:
        fates["approved"] = inside & Q(confidence__gte=auto)
        fates["review"] = inside & Q(confidence__lt=auto)
    else:
        fates["review"] = inside
    return fates


def _moved(old: dict[str, Q] | None, new: dict[str, Q] | None) -> dict[str, Q | None]:
    """Per fate under the new rule, the confidences that met another fate under the old one
    (None: none did)."""
    everything = {"review": Q(confidence__isnull=False)}
    old, new = old or everything, new or everything
    moved = {}
    for fate, where in new.items():
        if old is everything and new is everything:
            moved[fate] = None
        elif fate in old:
            moved[fate] = where & ~old[fate]
        else:
            moved[fate] = where
    return moved


def matrix_change_effect(matrix_id: int | None, before: dict | None, after: dict | None):
    """Per insight type a rule change touches: how many of the last DAYS days' stored
    insights (with a confidence) of the streams using the matrix would have met another
    fate, by the fate they would have met. [] when nothing changes or no stream uses it."""
    if matrix_id is None or before is None or after is None:
        return []
    old = {r["insight_type"]: r for r in before.get("rules") or []}
    new = {r["insight_type"]: r for r in after.get("rules") or []}
    touched = sorted(t for t in {*old, *new} if old.get(t) != new.get(t))
    since = timezone.now() - timedelta(days=DAYS)
    found = []
    for kind in touched:
        items = Insight.objects.filter(
            stream__confidence_matrix_id=matrix_id,
            insight_type=kind,
            received_at__gte=since,
            confidence__isnull=False,
        )
        counts = {"total": Count("id")}
        for fate, where in _moved(_fate(old.get(kind)), _fate(new.get(kind))).items():
            if where is not None:
                counts[fate] = Count("id", filter=where)
        result = items.aggregate(**counts)
        changed = {FATES[f]: n for f, n in result.items() if f != "total" and n}
        if changed:
            found.append({"insight_type": kind, "of": result["total"], "changed": changed})
    return found

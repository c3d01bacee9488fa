"""Read paths shared by the review page, its consumer, the exports and the dashboard."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from streams.genesys.payloads import KNOWN_INSIGHT_TYPES
from streams.models import Insight, StreamConfig
from streams.times import iso

STATUSES = ("pending", "approved", "rejected", "filtered", "all")
QUEUE_LIMIT = 200


@dataclass(frozen=True)
class ReviewFilters:
    """What an officer is looking at: validated, so a bad value gets a message, not a crash."""

    stream: int | None = None
    insight_type: str = ""
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    status: str = "pending"
    interaction_id: str = ""

    @classmethod
    def parse(cls, data, *, default_status: str = "pending") -> "ReviewFilters":
        """From a dict or QueryDict of strings (or JSON values); raises ValidationError."""
        data = data if hasattr(data, "get") else {}
        stream = _optional_int(data.get("stream"), "stream")
        insight_type = str(data.get("insight_type") or "").strip()
        if len(insight_type) > 64:
            raise ValidationError("insight type is longer than 64 characters")
        interaction_id = str(data.get("interaction_id") or "").strip()
        if len(interaction_id) > 128:
            raise ValidationError("interaction id is longer than 128 characters")
        low = _unit(data.get("min_confidence"), "min confidence", 0.0)
        high = _unit(data.get("max_confidence"), "max confidence", 1.0)
        if low > high:
            raise ValidationError(f"min confidence {low:g} is above max confidence {high:g}")
        status = str(data.get("status") or default_status)
        if status not in STATUSES:
            raise ValidationError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        return cls(stream, insight_type, low, high, status, interaction_id)

    def apply(self, queryset):
        if self.stream is not None:
            queryset = queryset.filter(stream_id=self.stream)
        if self.insight_type:
            queryset = queryset.filter(insight_type=self.insight_type)
        if self.interaction_id:
            queryset = queryset.filter(interaction_id=self.interaction_id)
        if self.min_confidence > 0:
            queryset = queryset.filter(confidence__gte=self.min_confidence)
        if self.max_confidence < 1:
            queryset = queryset.filter(confidence__lte=self.max_confidence)
        if self.status != "all":
            queryset = queryset.filter(review_status=self.status)
        return queryset


def _optional_int(value, name):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} {value!r} is not an id") from None


def _unit(value, name, default):
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} {value!r} is not a number") from None
    if not 0 <= number <= 1:
        raise ValidationError(f"{name} {number:g} is outside 0..1")
    return number


REVIEW_FIELDS = (
    "id",
    "stream__name",
    "interaction_id",
    "insight_type",
    "confidence",
    "relevance_score",
    "snippet",
    "review_status",
    "reviewed_by__username",
    "reviewed_at",
    "review_reason_code",
    "review_note",
    "review_rule",
    "received_at",
)


def _row(values: dict) -> dict:
    return {
        "id": values["id"],
        "stream": values["stream__name"],
        "interaction_id": values["interaction_id"],
        "insight_type": values["insight_type"],
        "confidence": values["confidence"],
        "relevance": values["relevance_score"],
        "snippet": values["snippet"],
        "status": values["review_status"],
        "reviewed_by": values["reviewed_by__username"] or values["review_rule"] or None,
        "reviewed_at": iso(values["reviewed_at"]),
        "reason_code": values["review_reason_code"],
        "note": values["review_note"],
        "received_at": iso(values["received_at"]),
    }


def review_queue(filters: ReviewFilters, *, limit: int = QUEUE_LIMIT) -> dict:
    """The snapshot a review page starts from: lowest confidence first."""
    queryset = filters.apply(Insight.objects.all())
    rows = list(queryset.order_by("confidence", "id").values(*REVIEW_FIELDS)[: limit + 1])
    return {"insights": [_row(r) for r in rows[:limit]], "more": len(rows) > limit}


def review_rows(ids, filters: ReviewFilters | None = None) -> list[dict]:
    """The rows for these ids (restricted to `filters` when given), lowest confidence first."""
    queryset = Insight.objects.filter(pk__in=list(ids))
    if filters is not None:
        queryset = filters.apply(queryset)
    return [_row(r) for r in queryset.order_by("confidence", "id").values(*REVIEW_FIELDS)]


def stream_choices() -> list[dict]:
    return list(StreamConfig.objects.order_by("name").values("id", "name"))


def insight_type_choices() -> list[str]:
    known = set(KNOWN_INSIGHT_TYPES)
    for types in StreamConfig.objects.values_list("insight_types", flat=True):
        known.update(types or [])
    return sorted(known)

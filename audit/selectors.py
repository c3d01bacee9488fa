"""Read paths shared by the review page, its consumer, the exports and the dashboard.

The review queue holds two kinds of item: insights, and knowledge answers an agent
received (`KnowledgeQuery` rows with a review status). Each row says which it is (`kind`)
and carries a `key` unique across both.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F

from streams.genesys.payloads import KNOWN_INSIGHT_TYPES
from streams.genesys.times import iso
from streams.live import INSIGHT, KNOWLEDGE
from streams.models import Insight, KnowledgeQuery, KnowledgeStream, StreamConfig

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
    stream_kind: str = INSIGHT  # whose id `stream` is: an insight or a knowledge stream
    # The kinds the viewer may see at all (their permissions), whatever the filters say.
    allowed_kinds: frozenset[str] = frozenset({INSIGHT, KNOWLEDGE})

    @classmethod
    def parse(cls, data, *, default_status: str = "pending") -> "ReviewFilters":
        """From a dict or QueryDict of strings (or JSON values); raises ValidationError."""
        data = data if hasattr(data, "get") else {}
        stream_kind, stream = _stream(data.get("stream"))
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
        return cls(stream, insight_type, low, high, status, interaction_id, stream_kind)

    @property
    def kinds(self) -> set[str]:
        """Which kinds of item these filters can match."""
        kinds = set(self.allowed_kinds)
        if self.stream is not None:
            kinds &= {self.stream_kind}
        if self.insight_type:
            kinds &= {KNOWLEDGE if self.insight_type == KnowledgeQuery.REVIEW_TYPE else INSIGHT}
        return kinds

    def apply(self, queryset):
        """Narrow a queryset of insights."""
        if INSIGHT not in self.kinds:
            return queryset.none()
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
        if self.status != "all":  # every insight is for review: "all" needs no condition
            queryset = queryset.in_status(self.status)
        return queryset

    def apply_knowledge(self, queryset):
        """Narrow a queryset of knowledge queries to the answers in the review queue."""
        if KNOWLEDGE not in self.kinds:
            return queryset.none()
        if self.stream is not None:
            queryset = queryset.filter(stream_id=self.stream)
        if self.interaction_id:
            queryset = queryset.filter(conversation_id=self.interaction_id)
        if self.min_confidence > 0:
            queryset = queryset.filter(top_confidence__gte=self.min_confidence)
        if self.max_confidence < 1:
            queryset = queryset.filter(top_confidence__lte=self.max_confidence)
        return queryset.in_status(self.status)


def _stream(value) -> tuple[str, int | None]:
    """An insight stream's id ("3", "insight:3") or a knowledge stream's ("knowledge:3")."""
    if value in (None, ""):
        return INSIGHT, None
    kind, _, number = str(value).rpartition(":")
    if kind not in ("", INSIGHT, KNOWLEDGE) or not number.isdigit() or len(number) > 18:
        raise ValidationError(f"stream {str(value)[:40]!r} is not an id")
    return kind or INSIGHT, int(number)


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


def _decision(item) -> dict:
    """The review fields every kind shares, from a values() dict or a model instance."""
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name)
    return {
        "status": get("review_status"),
        "reason_code": get("review_reason_code"),
        "note": get("review_note"),
        "reviewed_at": iso(get("reviewed_at")),
    }


def _insight_row(values: dict) -> dict:
    return {
        "key": f"{INSIGHT}:{values['id']}",
        "kind": INSIGHT,
        "id": values["id"],
        "stream": values["stream__name"],
        "interaction_id": values["interaction_id"],
        "insight_type": values["insight_type"],
        "confidence": values["confidence"],
        "relevance": values["relevance_score"],
        "snippet": values["snippet"],
        "reviewed_by": values["reviewed_by__username"] or values["review_rule"] or None,
        "received_at": iso(values["received_at"]),
        **_decision(values),
    }


RESULT_FIELDS = ("rank", "title", "snippet", "url", "knowledge_base_id", "confidence")


def _knowledge_row(query: KnowledgeQuery) -> dict:
    reviewer = query.reviewed_by.get_username() if query.reviewed_by_id else None
    return {
        "key": f"{KNOWLEDGE}:{query.pk}",
        "kind": KNOWLEDGE,
        "id": query.pk,
        "stream": query.stream.name,
        "interaction_id": query.conversation_id,
        "insight_type": KnowledgeQuery.REVIEW_TYPE,
        "confidence": query.top_confidence,
        "relevance": None,
        "snippet": query.query_text,
        "reviewed_by": reviewer or query.review_rule or None,
        "received_at": iso(query.created_at),
        **_decision(query),
        "knowledge": {
            "query_id": query.query_id,
            "origin": query.get_origin_display(),
            "requested_by": query.requested_by,
            "insight_id": query.insight_id,
            "governance_status": query.governance_status,
            "cache_hit": query.cache_hit,
            "results": [
                {name: result.get(name) for name in RESULT_FIELDS}
                for result in query.passed_results()
            ],
            "filtered": len(query.filtered_results()),
        },
    }


def _order(row: dict) -> tuple:
    """Lowest confidence first (an answer without one before all), then kind, then id."""
    confidence = row["confidence"]
    return (-1.0 if confidence is None else confidence, row["kind"], row["id"])


def _insights(queryset, limit: int | None = None) -> list[dict]:
    if limit is None:
        rows = queryset.order_by(F("confidence").asc(nulls_first=True), "id")
        return [_insight_row(r) for r in rows.values(*REVIEW_FIELDS)]
    # The same order as two range scans of the (status, confidence, id) index: PostgreSQL
    # keeps NULLs last in it, so one NULLS FIRST query would sort every pending insight.
    rows = list(
        queryset.filter(confidence__isnull=True).order_by("id").values(*REVIEW_FIELDS)[:limit]
    )
    if len(rows) < limit:
        rows += (
            queryset.filter(confidence__isnull=False)
            .order_by("confidence", "id")
            .values(*REVIEW_FIELDS)[: limit - len(rows)]
        )
    return [_insight_row(r) for r in rows]


def _knowledge(queryset, limit: int | None = None) -> list[dict]:
    rows = queryset.select_related("stream", "reviewed_by").order_by(
        F("top_confidence").asc(nulls_first=True), "id"
    )
    return [_knowledge_row(q) for q in (rows[:limit] if limit is not None else rows)]


def review_queue(filters: ReviewFilters, *, limit: int = QUEUE_LIMIT) -> dict:
    """The snapshot a review page starts from: lowest confidence first, both kinds merged."""
    rows = _insights(filters.apply(Insight.objects.all()), limit + 1) + _knowledge(
        filters.apply_knowledge(KnowledgeQuery.objects.all()), limit + 1
    )
    rows.sort(key=_order)
    return {"items": rows[:limit], "more": len(rows) > limit}


def review_rows(kind: str, ids, filters: ReviewFilters | None = None) -> list[dict]:
    """The rows of one kind for these ids (restricted to `filters` when given)."""
    if kind == KNOWLEDGE:
        queryset = KnowledgeQuery.objects.filter(pk__in=list(ids))
        return _knowledge(filters.apply_knowledge(queryset) if filters else queryset)
    queryset = Insight.objects.filter(pk__in=list(ids))
    return _insights(filters.apply(queryset) if filters else queryset)


def stream_choices() -> list[dict]:
    return list(StreamConfig.objects.order_by("name").values("id", "name"))


def knowledge_stream_choices() -> list[dict]:
    return list(KnowledgeStream.objects.order_by("name").values("id", "name"))


def insight_type_choices() -> list[str]:
    known = set(KNOWN_INSIGHT_TYPES)
    for types in StreamConfig.objects.values_list("insight_types", flat=True):
        known.update(types or [])
    return sorted(known)

"""Read paths shared by the review page, its consumer, the exports and the dashboard.

The review queue holds two kinds of item: insights, and knowledge answers an agent
received (`KnowledgeQuery` rows with a review status). Each row says which it is (`kind`)
and carries a `key` unique across both."""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.oversight import blind
from audit.review import search
from streams.genesys.payloads import KNOWN_INSIGHT_TYPES
from streams.genesys.times import iso
from streams.live import INSIGHT, KNOWLEDGE
from streams.models import Insight, KnowledgeQuery, KnowledgeStream, StreamConfig

STATUSES = ("pending", "approved", "rejected", "filtered", "all")


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
    # Words that must all be in the text, its correction or its note (audit.review.search,
    # with stemming), or an interaction id.
    search: str = ""
    # "queue": everything that matches; "mine": what the viewer holds (claimed or assigned);
    # "done": what the viewer decided today; "free": pending and held by nobody; "groups":
    # pending items that say the same thing, one row per group.
    scope: str = "queue"
    # The kinds the viewer may see at all (their permissions), whatever the filters say.
    allowed_kinds: frozenset[str] = frozenset({INSIGHT, KNOWLEDGE})
    viewer_id: int | None = None
    day_start: datetime | None = None  # the viewer's today, for "done"
    # Whose view this is when first decisions under a blind second review are hidden from
    # them (audit.oversight.blind); None when they may see every decision.
    blind_to: int | None = None

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
        search = " ".join(str(data.get("search") or "").split())
        if len(search) > 200:
            raise ValidationError("search is longer than 200 characters")
        scope = str(data.get("scope") or "queue")
        if scope not in SCOPES:
            raise ValidationError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        return cls(
            stream,
            insight_type,
            low,
            high,
            status,
            interaction_id,
            stream_kind,
            search=search,
            scope=scope,
        )

    def for_viewer(self, user, kinds: frozenset[str], *, blind_to: int | None) -> "ReviewFilters":
        """These filters as `user` sees them: their kinds, their claims, their today, and
        the decisions hidden from them (`blind_to`, from audit.oversight.blind.blind_viewer)."""
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        return dataclasses.replace(
            self, allowed_kinds=kinds, viewer_id=user.pk, day_start=today, blind_to=blind_to
        )

    @cached_property
    def search_facts(self) -> "search.Facts":
        """What the search is, read once for these filters (audit.review.search.Facts)."""
        return search.Facts(self.search)

    def search_is_common(self) -> bool:
        """Whether more than search.COMMON items of a kind hold the searched words."""
        models = {INSIGHT: Insight, KNOWLEDGE: KnowledgeQuery}
        return bool(self.search) and any(
            self.search_facts.common(models[kind], kind) for kind in self.kinds
        )

    @property
    def kinds(self) -> set[str]:
        """Which kinds of item these filters can match."""
        kinds = set(self.allowed_kinds)
        if self.stream is not None:
            kinds &= {self.stream_kind}
        if self.insight_type:
            kinds &= {KNOWLEDGE if self.insight_type == KnowledgeQuery.REVIEW_TYPE else INSIGHT}
        return kinds

    def queryset(self, kind: str, *, how: str = "scan"):
        """The rows of `kind` these filters match, or None when they match no row of it;
        read as `how` says (a page, a count, or ranked by the search: see
        audit.review.search)."""
        if kind not in self.kinds:
            return None
        if kind == INSIGHT:
            return self.apply(Insight.objects.all(), how=how)
        return self.apply_knowledge(KnowledgeQuery.objects.all(), how=how)

    def apply(self, queryset, *, how: str = "scan"):
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
        queryset = self._searched(queryset, INSIGHT, how)
        return self._scoped(queryset, INSIGHT, every_item_for_review=True)

    def apply_knowledge(self, queryset, *, how: str = "scan"):
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
        queryset = self._searched(queryset, KNOWLEDGE, how)
        return self._scoped(queryset, KNOWLEDGE, every_item_for_review=False)

    def _searched(self, queryset, kind: str, how: str):
        if self.search:
            return search.matching(queryset, kind, self.search, how=how, facts=self.search_facts)
        return search.unranked(queryset, how)

    def _scoped(self, queryset, kind: str, *, every_item_for_review: bool):
        if self.scope == "free":  # what "claim next" takes: pending, held by nobody
            return queryset.pending().free(timezone.now())
        if self.scope == "mine":
            return queryset.pending().claimed_by_user(self.viewer_id, timezone.now())
        if self.scope == "done":
            return queryset.decided().filter(
                reviewed_by_id=self.viewer_id, reviewed_at__gte=self.day_start
            )
        if self.status == "all" and every_item_for_review:
            return queryset  # every insight is for review: "all" needs no condition
        queryset = queryset.in_status(self.status)
        if self.blind_to is not None and self.status not in ("pending", "all"):
            # Listed under a decided status, a hidden decision would show through.
            queryset = queryset.exclude(blind.hidden_q(kind, self.blind_to))
        return queryset


SCOPES = ("queue", "mine", "done", "free", "groups")


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
    "stream_id",
    "stream__name",
    "interaction_id",
    "insight_type",
    "confidence",
    "relevance_score",
    "snippet",
    "corrected_text",
    "review_status",
    "reviewed_by__username",
    "reviewed_at",
    "review_reason_code",
    "review_note",
    "review_rule",
    "received_at",
    "claimed_by_id",
    "claimed_by__username",
    "claimed_until",
    "claim_assigned_by__username",
)


def _decision(item) -> dict:
    """The review fields every kind shares, from a values() dict or a model instance."""
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name)
    return {
        "status": get("review_status"),
        "reason_code": get("review_reason_code"),
        "note": get("review_note"),
        "reviewed_at": iso(get("reviewed_at")),
        "corrected_text": get("corrected_text"),
    }


def _claim(claimed_by_id, username, until, assigned_by) -> dict:
    """Who holds the item and until when; nothing once the claim ran out."""
    if claimed_by_id is None or until is None or until < timezone.now():
        return {"claimed_by": None, "claimed_by_id": None, "claimed_until": None}
    return {
        "claimed_by": username,
        "claimed_by_id": claimed_by_id,
        "claimed_until": iso(until),
        "assigned_by": assigned_by,
    }


def _insight_row(values: dict) -> dict:
    return {
        "key": f"{INSIGHT}:{values['id']}",
        "kind": INSIGHT,
        "id": values["id"],
        "stream_id": values["stream_id"],
        "stream": values["stream__name"],
        "interaction_id": values["interaction_id"],
        "insight_type": values["insight_type"],
        "confidence": values["confidence"],
        "relevance": values["relevance_score"],
        "snippet": values["snippet"],
        "reviewed_by": values["reviewed_by__username"] or values["review_rule"] or None,
        "received_at": iso(values["received_at"]),
        **_decision(values),
        **_claim(
            values["claimed_by_id"],
            values["claimed_by__username"],
            values["claimed_until"],
            values["claim_assigned_by__username"],
        ),
    }


RESULT_FIELDS = ("rank", "title", "snippet", "url", "knowledge_base_id", "confidence")


def _knowledge_row(query: KnowledgeQuery) -> dict:
    reviewer = query.reviewed_by.get_username() if query.reviewed_by_id else None
    claimer = query.claimed_by.get_username() if query.claimed_by_id else None
    assigner = query.claim_assigned_by.get_username() if query.claim_assigned_by_id else None
    return {
        "key": f"{KNOWLEDGE}:{query.pk}",
        "kind": KNOWLEDGE,
        "id": query.pk,
        "stream_id": query.stream_id,
        "stream": query.stream.name,
        "interaction_id": query.conversation_id,
        "insight_type": KnowledgeQuery.REVIEW_TYPE,
        "confidence": query.top_confidence,
        "relevance": None,
        "snippet": query.query_text,
        "reviewed_by": reviewer or query.review_rule or None,
        "received_at": iso(query.created_at),
        **_decision(query),
        **_claim(query.claimed_by_id, claimer, query.claimed_until, assigner),
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


def insight_rows(queryset, *, sort_field: str | None = None) -> list[dict]:
    """Rows of insights, in the queryset's order; with `sort_field`, each row also carries
    its value (`sort_value`), which places it in the queue's sort. Each row carries
    `waiting_first_by` for audit.oversight.blind to mask it for its viewer."""
    fields = REVIEW_FIELDS if sort_field in (None, *REVIEW_FIELDS) else (*REVIEW_FIELDS, sort_field)
    queryset = queryset.annotate(waiting_first_by=blind.waiting_first_by(INSIGHT))
    rows = []
    for values in queryset.values(*fields, "waiting_first_by"):
        row = _insight_row(values)
        row["waiting_first_by"] = values["waiting_first_by"]
        if sort_field is not None:
            row["sort_value"] = values[sort_field]
        rows.append(row)
    return rows


def knowledge_rows(queryset, *, sort_field: str | None = None) -> list[dict]:
    """Rows of knowledge answers, in the queryset's order (see insight_rows)."""
    rows = []
    related = ("stream", "reviewed_by", "claimed_by", "claim_assigned_by")
    queryset = queryset.annotate(waiting_first_by=blind.waiting_first_by(KNOWLEDGE))
    for query in queryset.select_related(*related):
        row = _knowledge_row(query)
        row["waiting_first_by"] = query.waiting_first_by
        if sort_field is not None:
            row["sort_value"] = getattr(query, sort_field)
        rows.append(row)
    return rows


def _review_items(kind: str, ids, filters: ReviewFilters | None):
    """The items of one kind with these ids, restricted to `filters` when given."""
    if kind == KNOWLEDGE:
        queryset = KnowledgeQuery.objects.filter(pk__in=list(ids))
        return filters.apply_knowledge(queryset) if filters else queryset
    queryset = Insight.objects.filter(pk__in=list(ids))
    return filters.apply(queryset) if filters else queryset


def review_rows(kind: str, ids, filters: ReviewFilters | None = None) -> list[dict]:
    """The rows of one kind for these ids (restricted to `filters` when given)."""
    rows = knowledge_rows if kind == KNOWLEDGE else insight_rows
    return rows(_review_items(kind, ids, filters))


def review_keys(kind: str, ids, filters: ReviewFilters | None = None) -> list[str]:
    """The keys ("insight:12") of the same items, in the same order: what a page is told of
    new items, without reading their rows."""
    pks = _review_items(kind, ids, filters).values_list("pk", flat=True)
    return [f"{kind}:{pk}" for pk in pks]


def stream_choices() -> list[dict]:
    return list(StreamConfig.objects.order_by("name").values("id", "name"))


def knowledge_stream_choices() -> list[dict]:
    return list(KnowledgeStream.objects.order_by("name").values("id", "name"))


def insight_type_choices() -> list[str]:
    known = set(KNOWN_INSIGHT_TYPES)
    for types in StreamConfig.objects.values_list("insight_types", flat=True):
        known.update(types or [])
    return sorted(known)

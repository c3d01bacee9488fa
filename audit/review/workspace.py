"""What the review page reads beside its queue: an item's context (its conversation, the
rule that judged it, its history), the team's progress, and saved views."""

from urllib.parse import parse_qsl

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from audit.formats import people_time
from audit.oversight import blind
from audit.oversight.models import SecondReview
from audit.privacy.reveal import has_original
from audit.review.kinds import REVIEW_KINDS
from audit.review.models import SavedView
from audit.review.queue import parse_sort, queue_count
from audit.review.selectors import ReviewFilters
from audit.trail.models import AuditEntry
from audit.trail.words import action_words
from audit.vocabulary import type_label, type_labels
from streams.config import versions
from streams.config.models import ConfidenceMatrix
from streams.genesys.summaries import SUMMARY_TYPE
from streams.genesys.summaries import details as summary_details
from streams.genesys.times import iso
from streams.live import INSIGHT, KNOWLEDGE
from streams.models import Insight, KnowledgeQuery, KnowledgeSource, WebhookDelivery
from streams.privacy import vault

TIMELINE_LIMIT = 50
HISTORY_LIMIT = 100


def item_context(kind: str, item_id: int, *, blind_to: int | None = None) -> dict:
    """The other items of the same conversation in time order, the rule that applied, and
    the item's own history (every audit entry about it, and its webhook deliveries); with
    `blind_to`, what audit.oversight.blind hides from that viewer is left out."""
    review_kind = REVIEW_KINDS.get(kind)
    if review_kind is None:
        raise ValidationError(f"{kind!r} is not a kind of item")
    item = (
        review_kind.model.objects.select_related("stream", "rule_version")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise ValidationError(f"there is no {review_kind.label.lower()} {item_id}")
    conversation = item.interaction_id if kind == INSIGHT else item.conversation_id
    hidden = blind.is_hidden(kind, item.pk, blind_to)
    return {
        "key": f"{kind}:{item.pk}",
        "pending": item.review_status == "pending",
        "conversation": conversation,
        "timeline": blind.mask_timeline(timeline(conversation), blind_to),
        "rule": rule_words(item) if kind == INSIGHT else knowledge_rule_words(item),
        "rule_since": rule_changes_since(item),
        "history": hidden_history(kind, item) if hidden else history(kind, item),
        # A sealed original is kept (data protection officers may reveal it).
        "original_kept": vault.keeps_originals() and has_original(item),
        "details": (
            [vars(d) for d in summary_details(item.payload or {})]
            if kind == INSIGHT and item.insight_type == SUMMARY_TYPE
            else []
        ),
    }


def timeline(conversation: str) -> list[dict]:
    """Insights and knowledge answers of one conversation, oldest first."""
    labels = type_labels()
    insights = Insight.objects.filter(interaction_id=conversation).order_by("-received_at")
    answers = KnowledgeQuery.objects.filter(conversation_id=conversation).for_review()
    events = [
        {
            "key": f"{INSIGHT}:{i.pk}",
            "when": i.received_at,
            "what": type_label(i.insight_type, labels),
            "text": i.snippet,
            "confidence": i.confidence,
            "status": i.review_status,
        }
        for i in insights[:TIMELINE_LIMIT]
    ]
    events += [
        {
            "key": f"{KNOWLEDGE}:{q.pk}",
            "when": q.created_at,
            "what": type_label(KnowledgeQuery.REVIEW_TYPE, labels),
            "text": q.query_text,
            "confidence": q.top_confidence,
            "status": q.review_status,
        }
        for q in answers.order_by("-created_at")[:TIMELINE_LIMIT]
    ]
    events.sort(key=lambda event: (event["when"], event["key"]))
    for event in events:
        event["at"] = iso(event.pop("when"))
    return events[-TIMELINE_LIMIT:]


def rule_words(insight: Insight) -> str:
    """The confidence matrix rule that judged an insight, as a sentence: from the version
    the insight recorded (today's matrix only for items stored before versions were)."""
    version = insight.rule_version
    if version is None:
        matrix = insight.stream.confidence_matrix
        snapshot = matrix.audit_snapshot()
        name = f"Confidence matrix {matrix.name} (as it is now: no version was recorded)"
    else:
        snapshot = version.snapshot
        name = f"Confidence matrix {snapshot['name']}, version {version.number}"
    if insight.confidence is None:
        choice = ConfidenceMatrix.NoConfidence(snapshot["no_confidence"]).label
        return f"{name}: insights without a confidence: {choice}."
    rule = next((r for r in snapshot["rules"] if r["insight_type"] == insight.insight_type), None)
    if rule is None:
        return (
            f"{name}: no rule for {type_label(insight.insight_type)}, so every confidence is "
            f"let through, weighted {snapshot['default_weight']:g}."
        )
    words = (
        f"{name}, {type_label(rule['insight_type'])}: {rule['min_confidence']:.2f} to "
        f"{rule['max_confidence']:.2f}, weight {rule['weight']:g}"
    )
    if rule["auto_approve_at"] is not None:
        words += f", approved automatically at {rule['auto_approve_at']:.2f} or above"
    if rule["auto_filter"]:
        words += ", recorded as filtered below the minimum"
    return words + "."


def knowledge_rule_words(query: KnowledgeQuery) -> str:
    version = query.rule_version
    if version is None:
        stream = query.stream
        snapshot = stream.audit_snapshot()
        name = f"Knowledge stream {stream.name} (as it is now: no version was recorded)"
    else:
        snapshot = version.snapshot
        name = f"Knowledge stream {snapshot['name']}, version {version.number}"
    ids = [source["knowledge_base_id"] for source in snapshot["sources"]]
    names = dict(
        KnowledgeSource.objects.filter(knowledge_base_id__in=ids).values_list(
            "knowledge_base_id", "name"
        )
    )
    sources = ", ".join(
        f"{names.get(source['knowledge_base_id'], source['knowledge_base_id'])} "
        f"(priority {source['priority']})"
        for source in snapshot["sources"]
    )
    return (
        f"{name}: results need a confidence of at least "
        f"{snapshot['confidence_threshold']:.2f} and an update within "
        f"{snapshot['freshness_days']} days; sources {sources or 'none'}."
    )


def rule_changes_since(item) -> list[dict]:
    """The versions of the setting that judged `item` made since, oldest first: what
    changed in words is on the change request each names."""
    if item.rule_version_id is None:
        return []
    return [
        {
            "number": later.number,
            "at": iso(later.created_at),
            "by": " by ".join(part for part in (later.source, later.actor_label) if part),
        }
        for later in versions.later(item.rule_version)[:HISTORY_LIMIT]
    ]


def history(kind: str, item) -> list[dict]:
    """What happened to the item, oldest first: received, claimed, decided, sent."""
    received = item.received_at if kind == INSIGHT else item.created_at
    events = [(received, 0, "", "received")]
    label = REVIEW_KINDS[kind].model._meta.label_lower
    entries = AuditEntry.objects.filter(object_type=label, object_id=str(item.pk)).order_by("id")
    events += [(e.created_at, e.pk, e.actor_label, e.action) for e in entries[:HISTORY_LIMIT]]
    if item.review_rule:
        events.append((item.reviewed_at, 0, item.review_rule, "decided"))
    deliveries = WebhookDelivery.objects.filter(
        payload__data__id=item.pk, event_type__startswith=f"{kind}."
    ).select_related("endpoint")
    events += [
        (
            d.delivered_at or d.created_at,
            0,
            f"webhook {d.endpoint.name}",
            f"{d.event_type}: {d.get_status_display().lower()}",
        )
        for d in deliveries.order_by("created_at")[:HISTORY_LIMIT]
    ]
    events.sort(key=lambda event: (event[0], event[1]))
    return [{"at": iso(at), "who": who, "what": action_words(what)} for at, _, who, what in events]


def hidden_history(kind: str, item) -> list[dict]:
    """An item's history for someone its decision is hidden from: that it arrived and was
    decided, no more (who claimed it, when and how it was decided, and what was sent would
    each tell)."""
    received = item.received_at if kind == INSIGHT else item.created_at
    return [
        {"at": iso(received), "who": "", "what": action_words("received")},
        {"at": "", "who": "", "what": blind.UNDER_REVIEW_WORDS},
    ]


def team_progress(user) -> dict:
    """Today, for the whole team and for `user`: decided by whom, held by whom, pending."""
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    people: dict[str, dict] = {}
    for review_kind in REVIEW_KINDS.values():
        model = review_kind.model
        decided = (
            model.objects.filter(reviewed_at__gte=today, reviewed_by__isnull=False)
            .values("reviewed_by__username")
            .annotate(n=Count("pk"))
        )
        for row in decided:
            person = people.setdefault(row["reviewed_by__username"], _person())
            person["decided_today"] += row["n"]
        held = (
            model.objects.pending()
            .filter(claimed_until__gte=now)
            .values("claimed_by__username")
            .annotate(n=Count("pk"))
        )
        for row in held:
            if row["claimed_by__username"]:
                people.setdefault(row["claimed_by__username"], _person())["claimed"] += row["n"]
    second = (
        SecondReview.objects.filter(second_at__gte=today)
        .exclude(second_by=None)
        .values("second_by__username")
        .annotate(n=Count("pk"))
    )
    for row in second:
        people.setdefault(row["second_by__username"], _person())["second_today"] += row["n"]
    # One definition of pending: the review page's own count of its Pending tab.
    pending, capped = queue_count(ReviewFilters())
    team = [{"name": name, **figures} for name, figures in sorted(people.items())]
    return {
        "as_of": people_time(now),
        "pending": pending,
        "pending_capped": capped,
        "decided_today": sum(p["decided_today"] for p in team),
        "second_today": sum(p["second_today"] for p in team),
        "me": people.get(user.get_username(), _person()),
        "team": team,
    }


def _person() -> dict:
    return {"decided_today": 0, "second_today": 0, "claimed": 0}


VIEW_PARAMETERS = {
    "stream",
    "insight_type",
    "interaction_id",
    "min_confidence",
    "max_confidence",
    "status",
    "search",
    "scope",
    "sort",
}


def view_query(query: str) -> str:
    """A view's address parameters, checked as the page checks them (ValidationError)."""
    query = query.lstrip("?")
    if len(query) > 1000:
        raise ValidationError("A view's filters are 1,000 characters or less.")
    pairs = parse_qsl(query, keep_blank_values=False)
    unknown = sorted({name for name, _ in pairs} - VIEW_PARAMETERS)
    if unknown:
        raise ValidationError(f"{', '.join(unknown)}: not a filter of the review queue")
    data = dict(pairs)
    ReviewFilters.parse(data)
    parse_sort(data.get("sort"))
    return query


def views_for(user) -> list[dict]:
    """The user's own views, then those published for everyone."""
    views = SavedView.objects.filter(Q(owner=user) | Q(published=True)).select_related("owner")
    return [
        {
            "id": view.pk,
            "name": view.name,
            "query": view.query,
            "published": view.published,
            "mine": view.owner_id == user.pk,
            "owner": view.owner.get_username(),
        }
        for view in views.order_by("-published", "name")
    ]

"""Erasure of one conversation's texts from every place the streams app keeps them (GDPR
Art. 17): insights and summaries, knowledge queries and their results, quarantined frames
that name it, webhook outbox batches and deliveries, verdicts waiting for Genesys, the
knowledge cache, and its data key (which makes every sealed original of it beyond use) and
subject hashes. Rows stay, with their decisions and ids, so the record of who decided what,
and the audit chain over it, stay whole; the words are gone.

Called by audit.privacy.erasure, which checks legal holds, erases what the audit app keeps
and records the erasure; this module knows nothing of it."""

from django.core.cache import cache
from django.db.models import Case, Q, TextField, Value, When
from django.db.models.functions import Cast

from streams.ingest.models import Insight, QuarantinedFrame
from streams.knowledge.models import KnowledgeQuery
from streams.privacy.detect import not_text
from streams.privacy.models import ConversationKey, SubjectHash
from streams.webhooks.models import GenesysFeedback, OutboxBatch, WebhookDelivery

ERASED = "[erased on request]"
# The keys a payload names its conversation by, in the shapes the product writes and reads.
CONVERSATION_KEYS = ("interaction_id", "conversation_id", "conversationId", "interactionId")
KNOWLEDGE_CACHE_PREFIX = "knowledge:"  # streams.knowledge.search.CACHE_PREFIX
# What an event says about itself rather than the customer: kept (with ids and times).
NOT_WORDS = frozenset(
    (
        "insight_type",
        "stream",
        "review_status",
        "reviewed_by",
        "reason_code",
        "governance_status",
        "origin",
        "outcome",
        "rating",
        "kind",
        "source",
        "timestamp",
        "event_time",
        "decided_by_rule",
        "last_updated",
        "url",
    )
)


def _erased_if_set(field: str):
    """A field's words replaced, an empty one left empty (nothing was there)."""
    return Case(When(~Q(**{field: ""}), then=Value(ERASED)), default=Value(""))


def conversation_texts(conversation_id: str) -> dict[str, int]:
    """(Inside the caller's transaction.) Erase; how many rows of each place were touched."""
    counts: dict[str, int] = {}
    insights = Insight.objects.filter(interaction_id=conversation_id)
    counts["insights and summaries"] = insights.update(
        snippet=ERASED,
        payload={"erased": True},
        review_note=_erased_if_set("review_note"),
        corrected_text=_erased_if_set("corrected_text"),
    )
    queries = KnowledgeQuery.objects.filter(conversation_id=conversation_id)
    keys = {KNOWLEDGE_CACHE_PREFIX + key for key in queries.values_list("cache_key", flat=True)}
    counts["knowledge queries"] = queries.update(
        query_text=ERASED,
        results=[],
        review_note=_erased_if_set("review_note"),
        corrected_text=_erased_if_set("corrected_text"),
    )
    cache.delete_many(list(keys))
    counts["knowledge cache entries"] = len(keys)
    counts["quarantined frames"] = QuarantinedFrame.objects.filter(
        raw__contains=conversation_id
    ).update(raw=ERASED)
    counts["verdicts for Genesys"] = (
        GenesysFeedback.objects.filter(conversation_id=conversation_id)
        .exclude(comment="")
        .update(comment=ERASED)
    )
    counts["webhook outbox batches"] = _erase_json(OutboxBatch, "items", conversation_id)
    counts["webhook deliveries"] = _erase_json(WebhookDelivery, "payload", conversation_id)
    counts["sealed originals"], _ = ConversationKey.objects.filter(
        conversation_id=conversation_id
    ).delete()  # the data key and, with it, every original sealed under it
    counts["subject hashes"], _ = SubjectHash.objects.filter(
        conversation_id=conversation_id
    ).delete()
    return counts


def _erase_json(model, field: str, conversation_id: str) -> int:
    """Rows whose JSON names the conversation: each event of it keeps its ids and loses
    its words."""
    rows = model.objects.annotate(_text=Cast(field, TextField())).filter(
        _text__contains=conversation_id
    )
    touched = 0
    for row in rows.only("pk", field).iterator(chunk_size=200):
        value, changed = erased_in(getattr(row, field), conversation_id)
        if changed:
            model.objects.filter(pk=row.pk).update(**{field: value})
            touched += 1
    return touched


def _words(key: str) -> bool:
    return key not in NOT_WORDS and not not_text(key)


def erased_in(value, conversation_id: str, inside: bool = False) -> tuple[object, bool]:
    """`value` with the words of every object that names the conversation erased (ids,
    times and types stay), and whether anything changed."""
    if isinstance(value, dict):
        inside = inside or any(value.get(key) == conversation_id for key in CONVERSATION_KEYS)
        changed = False
        result = {}
        for key, item in value.items():
            if inside and isinstance(item, str) and item and _words(key):
                result[key] = ERASED
                changed = changed or item != ERASED
                continue
            result[key], touched = erased_in(item, conversation_id, inside)
            changed = changed or touched
        return result, changed
    if isinstance(value, list):
        pairs = [erased_in(item, conversation_id, inside) for item in value]
        return [item for item, _ in pairs], any(touched for _, touched in pairs)
    return value, False

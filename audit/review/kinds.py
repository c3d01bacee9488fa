"""The kinds of item in the review queue (insights, and knowledge answers an agent received):
what each is called, who may see and decide it, what its webhooks carry."""

from collections.abc import Callable
from dataclasses import dataclass

from streams.knowledge.search import knowledge_review_data
from streams.models import Insight, KnowledgeQuery
from streams.webhooks import outbox


@dataclass(frozen=True)
class ReviewKind:
    """One kind of reviewable item: what it is called, who may see and decide it, what it
    reports."""

    name: str  # "insight" or "knowledge": audit actions and webhook events start with it
    label: str
    model: type
    view_permission: str
    permission: str  # to decide
    webhook_data: Callable


REVIEW_KINDS = {
    "insight": ReviewKind(
        "insight",
        "Insight",
        Insight,
        "streams.view_insight",
        "streams.review_insight",
        outbox.insight_data,
    ),
    "knowledge": ReviewKind(
        "knowledge",
        "Knowledge answer",
        KnowledgeQuery,
        "streams.view_knowledgequery",
        "streams.review_knowledgequery",
        knowledge_review_data,
    ),
}


def review_kind(item) -> ReviewKind:
    return next(kind for kind in REVIEW_KINDS.values() if isinstance(item, kind.model))

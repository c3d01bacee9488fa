"""One vocabulary for the codes people would otherwise read: insight types and the
system parts that act in the audit trail."""

from django.db.models import OuterRef, Subquery

from audit.models import TypeLabel
from streams.genesys.payloads import type_words

DEFAULT_TYPE_LABELS = {
    "compliance_flag": "Compliance flag",
    "knowledge_recommendation": "Knowledge recommendation",
    "sentiment_alert": "Sentiment alert",
    "knowledge.answer": "Knowledge answer",
    "knowledge_search": "Knowledge search",
}


def type_labels() -> dict[str, str]:
    """Every labelled type (a small table, read whole)."""
    return dict(TypeLabel.objects.values_list("code", "label"))


def type_label(code: str, labels: dict[str, str] | None = None) -> str:
    labels = type_labels() if labels is None else labels
    return labels.get(code) or type_words(code)


def type_label_subquery(code_field: str = "insight_type") -> Subquery:
    """The label set for each row's type, read by the row's own query (None where unset):
    for lists and exports, instead of a lookup per row."""
    return Subquery(TypeLabel.objects.filter(code=OuterRef(code_field)).values("label")[:1])


# What an audit action reads as in an item's history ("insight.approve": "Approved").
ACTION_WORDS = {
    "approve": "Approved",
    "reject": "Rejected",
    "correct": "Text fixed",
    "claim": "Claimed",
    "release": "Released",
    "skip": "Skipped",
    "assign": "Assigned",
    "auto_decide": "Decided by a rule",
    "query": "Searched",
    "download": "Downloaded",
    "received": "Received",
    "decided": "Decided by a rule",
}


def action_words(action: str) -> str:
    """An audit action in words: the verb after the object's name, or the code in words."""
    verb = action.rsplit(".", 1)[-1]
    return ACTION_WORDS.get(verb) or ACTION_WORDS.get(action) or type_words(action)

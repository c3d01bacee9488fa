"""Finding a data subject: which conversations mentioned an e-mail address, phone number,
card number or IBAN, found by its keyed hash (the value itself is never kept, and the
lookup's audit entry names the kind and a prefix of the hash, not the value)."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Min

from audit.trail.record import Origin, audit_record
from streams.models import Insight, KnowledgeQuery
from streams.privacy import detect, subjects
from streams.privacy.models import PrivacySettings, SubjectHash

KIND_WORDS = {
    detect.EMAIL: "e-mail address",
    detect.PHONE: "phone number",
    detect.CARD: "card number",
    detect.IBAN: "IBAN",
}


def find_subject(
    *, kind: str, value: str, by=None, actor_label: str = "", origin: Origin | None = None
) -> list[dict]:
    """The conversations that mentioned `value`, newest first, each with what is kept of it
    (an erased conversation's hashes went with it: it is not found)."""
    if by is not None and not by.has_perm("streams.erase_subject"):
        raise PermissionDenied
    if kind not in KIND_WORDS:
        raise ValidationError(f"Look a data subject up by one of: {', '.join(KIND_WORDS)}.")
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"Give the {KIND_WORDS[kind]} to look for.")
    regions = tuple(PrivacySettings.current().phone_regions or ())
    digest = subjects.digest(kind, value, regions)
    found = list(
        SubjectHash.objects.filter(digest=digest)
        .values("conversation_id")
        .annotate(first_seen=Min("first_seen"))
        .order_by("-first_seen")
    )
    conversations = [row["conversation_id"] for row in found]
    insights = _counts(Insight.objects, "interaction_id", conversations)
    queries = _counts(KnowledgeQuery.objects, "conversation_id", conversations)
    audit_record(
        action="privacy.find",
        actor=by,
        actor_label=actor_label,
        object_type="data_subject",
        object_id=digest[:16],
        object_repr=f"A data subject, by {KIND_WORDS[kind]}",
        after={"kind": kind, "conversations": len(conversations)},
        origin=origin,
    )
    return [
        {
            "conversation_id": row["conversation_id"],
            "first_seen": row["first_seen"],
            "insights": insights.get(row["conversation_id"], 0),
            "knowledge_queries": queries.get(row["conversation_id"], 0),
        }
        for row in found
    ]


def _counts(manager, field: str, conversations: list[str]) -> dict[str, int]:
    rows = (
        manager.filter(**{f"{field}__in": conversations})
        .values(field)
        .annotate(n=Count("pk"))
        .values_list(field, "n")
    )
    return dict(rows)

"""What stays hidden while an item waits for its blind second review: the first decision,
who made it (a person or a rule), the reason, the note and any correction.

Everyone who may give second reviews is blind to them, except on the items they decided
first themselves; auditors and governance admins, who do not give second reviews, see
them (the permission `audit.see_decisions_under_review`). The same rule applies wherever an
item's decision can be read: the review page and its socket, an item's context and
history, every export, the admin.

Readers annotate rows with `waiting_first_by` (the first decider's id, 0 for a rule, None
when no second review waits) and mask them for the viewer; querysets that select by a
decided status leave blind items out, so a filter cannot tell what the hidden decision was."""

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from audit.oversight.models import SecondReview

SEES = "audit.see_decisions_under_review"
GIVES = "audit.give_second_review"
# What a blind viewer reads for a decided item's status, in rows and exports.
UNDER_REVIEW = "second_review"
UNDER_REVIEW_WORDS = "Decided: waiting for a blind second review"


HIDDEN_ROW_FIELDS = {
    "reviewed_by": None,
    "reviewed_at": None,
    "reason_code": "",
    "note": "",
    "corrected_text": "",
}


def sees_decisions(user) -> bool:
    return user.has_perm(SEES)


def may_give_second_reviews(user) -> bool:
    """Second reviewers are blind; whoever can see decisions under review gives none."""
    return user.has_perm(GIVES) and not sees_decisions(user)


def blind_viewer(user) -> int | None:
    """The id to hide decisions from (None: `user` sees them all)."""
    return None if sees_decisions(user) else user.pk


def _waiting(kind: str):
    return SecondReview.objects.waiting().filter(kind=kind, item_id=OuterRef("pk"))


def waiting_first_by(kind: str) -> Subquery:
    """Per item: the first decider's id (0 for a rule) while a second review waits, else
    None."""
    first = _waiting(kind).annotate(who=Coalesce("first_by_id", Value(0)))
    return Subquery(first.values("who")[:1], output_field=IntegerField())


def hidden_q(kind: str, viewer_id: int) -> Q:
    """Items of `kind` whose decision `viewer_id` may not see now."""
    return Q(Exists(_waiting(kind).exclude(first_by_id=viewer_id)))


def mask_row(row: dict, viewer_id: int | None) -> dict:
    """A review row as `viewer_id` may see it (rows carry `waiting_first_by`): a copy, as
    one read serves many pages."""
    shown = {name: value for name, value in row.items() if name != "waiting_first_by"}
    first = row.get("waiting_first_by")
    if first is None or viewer_id is None or first == viewer_id:
        return shown
    return {**shown, **HIDDEN_ROW_FIELDS, "status": UNDER_REVIEW}


def mask_rows(rows: list[dict], viewer_id: int | None) -> list[dict]:
    return [mask_row(row, viewer_id) for row in rows]


def mask_timeline(events: list[dict], viewer_id: int | None) -> list[dict]:
    """A conversation's items (`key`, `status`) with the hidden decisions' statuses masked."""
    if viewer_id is None or not events:
        return events
    ids: dict[str, list[int]] = {}
    for event in events:
        kind, _, number = event["key"].partition(":")
        ids.setdefault(kind, []).append(int(number))
    hidden = {
        f"{kind}:{item_id}"
        for kind, numbers in ids.items()
        for item_id in SecondReview.objects.waiting()
        .filter(kind=kind, item_id__in=numbers)
        .exclude(first_by_id=viewer_id)
        .values_list("item_id", flat=True)
    }
    return [{**e, "status": UNDER_REVIEW} if e["key"] in hidden else e for e in events]


def is_hidden(kind: str, item_id: int, viewer_id: int | None) -> bool:
    if viewer_id is None:
        return False
    waiting = SecondReview.objects.waiting().filter(kind=kind, item_id=item_id)
    return waiting.exclude(first_by_id=viewer_id).exists()


MASKED_COLUMNS = {
    "review_status": UNDER_REVIEW,
    "reviewed_by__username": "",
    "reviewed_at": None,
    "review_reason_code": "",
    "review_reason_label": "",
    "review_note": "",
    "corrected_text": "",
    "review_rule": "",
}


EXPORT_KINDS = {"insights": "insight", "decisions": "insight", "knowledge": "knowledge"}


def masked_export(export_name: str, queryset, fields: list[str], viewer_id: int | None):
    """(queryset, fields) for an export `viewer_id` downloads: the decision columns of items
    whose second review waits read as hidden (for None, as they are)."""
    kind = EXPORT_KINDS.get(export_name)
    if viewer_id is None or kind is None:
        return queryset, fields
    queryset = queryset.annotate(blind_hidden=Exists(_waiting(kind).exclude(first_by_id=viewer_id)))
    masks, names = {}, []
    for field in fields:
        if field not in MASKED_COLUMNS:
            names.append(field)
            continue
        name = f"shown_{field.replace('__', '_')}"
        masks[name] = Case(
            When(blind_hidden=True, then=Value(MASKED_COLUMNS[field])),
            default=F(field),
            output_field=DateTimeField() if field == "reviewed_at" else TextField(),
        )
        names.append(name)
    return queryset.annotate(**masks), names

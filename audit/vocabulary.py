"""The words people read for codes, shared by every package: insight types' labels, the
reason codes a decision gives, and what a decision's note or correction may hold. Labels and
codes are tables admins keep; a type without a label reads as its code in words."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import OuterRef, Subquery

from streams.genesys.frames import scrub_nul
from streams.genesys.payloads import type_words
from streams.privacy import current as privacy

DEFAULT_TYPE_LABELS = {
    "compliance_flag": "Compliance flag",
    "knowledge_recommendation": "Knowledge recommendation",
    "sentiment_alert": "Sentiment alert",
    "knowledge.answer": "Knowledge answer",
    "knowledge_search": "Knowledge search",
    "thirdpartyaction": "Third-party suggestion",
}
# What approving and rejecting an item of a type means, as the review page says it; admins
# may reword them (four-eyes). A type without them shows none.
DEFAULT_TYPE_MEANINGS = {
    "compliance_flag": (
        "the flag is right: the agent must act on it",
        "a false alarm: nothing was wrong",
    ),
    "knowledge_recommendation": (
        "the article answers the customer's question and may be offered",
        "it is wrong, out of date or off the point",
    ),
    "sentiment_alert": (
        "the customer's mood is as the alert says",
        "the alert misread the conversation",
    ),
    "knowledge.answer": (
        "the answer is right and may reach agents",
        "the answer is wrong or its sources are",
    ),
    "summary": (
        "the summary says what happened (corrected if need be)",
        "it misstates the conversation",
    ),
    # Genesys Agent Copilot's suggestion kinds
    "knowledge.search": (
        "the suggested article answers what the customer asked",
        "it does not, or says something wrong",
    ),
    "knowledge.article": (
        "the suggested article answers what the customer asked",
        "it does not, or says something wrong",
    ),
    "response": (
        "the canned response fits and may be sent as it is",
        "it does not fit, or must not be sent",
    ),
    "script": ("the script fits the call", "it does not fit the call"),
    "intent": ("the customer's intent is as detected", "the intent was misread"),
    "thirdpartyaction": (
        "the suggestion is right and may be acted on",
        "it is wrong or must not be acted on",
    ),
}


def type_labels() -> dict[str, str]:
    """Every labelled type (a small table, read whole)."""
    return dict(TypeLabel.objects.values_list("code", "label"))


def type_meanings() -> dict[str, dict[str, str]]:
    """What approve and reject mean, per type that says so."""
    return {
        code: {"approve": approve, "reject": reject}
        for code, approve, reject in TypeLabel.objects.exclude(
            approve_means="", reject_means=""
        ).values_list("code", "approve_means", "reject_means")
    }


def type_label(code: str, labels: dict[str, str] | None = None) -> str:
    labels = type_labels() if labels is None else labels
    return labels.get(code) or type_words(code)


def type_label_subquery(code_field: str = "insight_type") -> Subquery:
    """The label set for each row's type, read by the row's own query (None where unset):
    for lists and exports, instead of a lookup per row."""
    return Subquery(TypeLabel.objects.filter(code=OuterRef(code_field)).values("label")[:1])


class ReasonCodeQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class ReasonCode(models.Model):
    """Why an officer rejects (or notes on approval): a list admins keep."""

    code = models.CharField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9_-]+$", "Lower-case letters, digits, - and _.")],
    )
    label = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="Inactive codes are kept for history.")
    position = models.PositiveIntegerField(default=0, help_text="Order in the review page.")
    insight_types = models.JSONField(
        "only for these types",
        default=list,
        blank=True,
        help_text="Insight type codes (knowledge.answer for knowledge answers), one per line: "
        "the reason is offered only for items of these types. Empty: for every type.",
    )

    objects = ReasonCodeQuerySet.as_manager()

    class Meta:
        ordering = ["position", "code"]

    def __str__(self):
        return f"{self.code}: {self.label}"

    def clean(self):
        if not isinstance(self.insight_types, list) or not all(
            isinstance(t, str) and t for t in self.insight_types
        ):
            raise ValidationError({"insight_types": "A list of insight type codes."})

    def fits(self, insight_type: str) -> bool:
        return not self.insight_types or insight_type in self.insight_types

    def audit_snapshot(self) -> dict:
        return {
            "code": self.code,
            "label": self.label,
            "active": self.active,
            "insight_types": self.insight_types,
        }


class TypeLabel(models.Model):
    """What people read for an insight type's code ("compliance_flag": "Compliance flag").

    Defaults are created by a migration; admins may rename. A type without a row reads as
    its code in words ("new_kind" -> "New kind"); CSVs keep the code in its own column.
    """

    code = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100)
    approve_means = models.CharField(
        max_length=200, blank=True, help_text="What approving such an item says, in a phrase."
    )
    reject_means = models.CharField(
        max_length=200, blank=True, help_text="What rejecting such an item says, in a phrase."
    )

    class Meta:
        ordering = ["code"]
        verbose_name = "insight type label"

    def __str__(self):
        return f"{self.label} ({self.code})"

    def audit_snapshot(self) -> dict:
        return {
            "code": self.code,
            "label": self.label,
            "approve_means": self.approve_means,
            "reject_means": self.reject_means,
        }


NOTE_MAX_LENGTH = 2000
CORRECTION_MAX_LENGTH = 2000


def reason_code_check(reason_code: str, insight_type: str | None = None) -> None:
    """ValidationError unless `reason_code` is one of the active codes (and, with
    `insight_type`, one offered for that type)."""
    found = ReasonCode.objects.active().filter(code=reason_code or "").first()
    if found is not None and insight_type is not None and not found.fits(insight_type):
        raise ValidationError(
            f"The reason {found.label!r} is for {', '.join(map(type_label, found.insight_types))}"
            f" only, not for {type_label(insight_type)}: choose another."
        )
    if found is None:
        # People read the reasons' labels; a program that sent a code learns the codes too.
        reasons = "; ".join(
            f"{label} ({code})"
            for code, label in ReasonCode.objects.active().values_list("code", "label")
        )
        raise ValidationError(
            f"A rejection needs a reason: {reason_code!r} is not one of {reasons}."
            if reason_code
            else f"A rejection needs a reason: choose one of {reasons}."
        )


def bounded(text: str, what: str, limit: int) -> str:
    text = scrub_nul((text or "").strip())
    if len(text) > limit:
        raise ValidationError(f"The {what} is {len(text)} characters; the limit is {limit}.")
    return text


def typed(text: str, what: str, limit: int) -> str:
    """What an officer or admin typed about an item (a note, a correction, a comment),
    bounded, with any customer's personal data taken out as at ingest: officers quote what
    they read, and a note is kept, exported and sent on like the item's own text."""
    return privacy.redacted(bounded(text, what, limit))

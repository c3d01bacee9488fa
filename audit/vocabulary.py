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

    objects = ReasonCodeQuerySet.as_manager()

    class Meta:
        ordering = ["position", "code"]

    def __str__(self):
        return f"{self.code}: {self.label}"

    def audit_snapshot(self) -> dict:
        return {"code": self.code, "label": self.label, "active": self.active}


class TypeLabel(models.Model):
    """What people read for an insight type's code ("compliance_flag": "Compliance flag").

    Defaults are created by a migration; admins may rename. A type without a row reads as
    its code in words ("new_kind" -> "New kind"); CSVs keep the code in its own column.
    """

    code = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = "insight type label"

    def __str__(self):
        return f"{self.label} ({self.code})"

    def audit_snapshot(self) -> dict:
        return {"code": self.code, "label": self.label}


NOTE_MAX_LENGTH = 2000
CORRECTION_MAX_LENGTH = 2000


def reason_code_check(reason_code: str) -> None:
    """ValidationError unless `reason_code` is one of the active codes."""
    if not ReasonCode.objects.active().filter(code=reason_code or "").exists():
        codes = ", ".join(ReasonCode.objects.active().values_list("code", flat=True))
        raise ValidationError(
            f"A rejection needs a reason code: {reason_code!r} is not one of {codes}."
            if reason_code
            else f"A rejection needs a reason code: one of {codes}."
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

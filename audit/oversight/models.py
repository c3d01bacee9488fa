"""What oversight keeps: the shares sent to a blind second review (for everyone and per
stream), the fast-approvals floor, and each second review with the first decision, the
second and any ruling."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from streams.models import Insight, KnowledgeQuery
from streams.privacy import current as privacy
from streams.privacy.subjects import commitment
from streams.reviewable import Reviewable


def _percent(label: str, default: float, help_text: str):
    return models.FloatField(
        label,
        default=default,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text=help_text,
    )


class OversightSettings(models.Model):
    """How decisions are checked (one row): the shares sent to a blind second review, and
    the floor under which quick approvals are flagged. A stream may have its own shares."""

    approval_share = _percent(
        "approvals sampled (%)",
        5.0,
        "Share of officers' approvals sent to a second officer, blind. Per stream below.",
    )
    rejection_share = _percent(
        "rejections sampled (%)", 5.0, "Share of officers' rejections sent to a second officer."
    )
    rule_share = _percent(
        "rule decisions sampled (%)",
        2.0,
        "Share of confidence-matrix rules' automatic approvals and filters sent to an "
        "officer, blind: the evidence for raising or lowering a threshold.",
    )
    fast_seconds = models.FloatField(
        "fast approvals below (seconds)",
        default=3.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(600.0)],
        help_text="An officer whose median time from opening an item to deciding it is below "
        "this, approving more than 95% of at least 50 decisions, is flagged.",
    )
    training_required = models.BooleanField(
        "deciding needs a current training",
        default=False,
        help_text="Officers without a training attestation in force cannot approve, reject "
        "or give second reviews (each is warned on the dashboard either way).",
    )
    # Rule decisions are sampled in order of id; this is the last insight looked at.
    rules_sampled_through = models.BigIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "oversight settings"
        verbose_name_plural = "oversight settings"

    def __str__(self):
        return "Oversight settings"

    @classmethod
    def current(cls) -> "OversightSettings":
        return cls.objects.get_or_create(pk=1)[0]

    def audit_snapshot(self) -> dict:
        return {
            "approval_share": self.approval_share,
            "rejection_share": self.rejection_share,
            "rule_share": self.rule_share,
            "fast_seconds": self.fast_seconds,
            "training_required": self.training_required,
        }


class StreamSampling(models.Model):
    """A stream's own shares of decisions sent to a blind second review."""

    stream = models.OneToOneField(
        "streams.StreamConfig", on_delete=models.CASCADE, related_name="+"
    )
    approval_share = _percent("approvals sampled (%)", 5.0, "")
    rejection_share = _percent("rejections sampled (%)", 5.0, "")

    class Meta:
        verbose_name = "stream sampling share"
        ordering = ["stream__name"]

    def __str__(self):
        approvals, rejections = self.approval_share, self.rejection_share
        return f"{self.stream}: {approvals:g}% of approvals, {rejections:g}% of rejections"

    def audit_snapshot(self) -> dict:
        return {
            "stream": self.stream.name,
            "approval_share": self.approval_share,
            "rejection_share": self.rejection_share,
        }


# What a second review is about, as people read it (the review kinds of audit.review.services).
ITEM_KINDS = [("insight", "Insight"), ("knowledge", "Knowledge answer")]
# The item each kind names, for reading it (the review's own kinds add who may decide).
ITEM_MODELS = {"insight": Insight, "knowledge": KnowledgeQuery}
ITEM_LABELS = dict(ITEM_KINDS)


class SecondReviewQuerySet(models.QuerySet):
    def waiting(self):
        return self.filter(outcome=SecondReview.Outcome.WAITING)

    def for_second_officer(self, user):
        """What `user` may review blind: never their own first decisions."""
        return self.waiting().exclude(first_by=user)

    def for_adjudicator(self, user):
        """Disagreements `user` may rule on: never about their own decision."""
        return self.to_adjudicate().exclude(first_by=user).exclude(second_by=user)

    # Holding: the officer who opens one keeps it a while (as claims do for items).

    def held_by(self, user, now):
        return self.filter(holder=user, held_until__gte=now)

    def open_to(self, user, now):
        """Held by nobody, by `user`, or by someone whose hold ran out."""
        return self.filter(
            models.Q(holder=None) | models.Q(holder=user) | models.Q(held_until__lt=now)
        )

    def to_adjudicate(self):
        return self.filter(outcome=SecondReview.Outcome.DISAGREED)

    def answered(self):
        return self.exclude(second_status="")


class SecondReview(models.Model):
    """A decided item sampled for a second, blind look: the first decision (an officer's or
    a rule's), the second officer's beside it (it does not change the item), and a
    governance admin's ruling when the two differ."""

    class Source(models.TextChoices):
        OFFICER = "officer", "An officer's decision"
        RULE = "rule", "A rule's decision"

    class Outcome(models.TextChoices):
        WAITING = "waiting", "Waiting for a second officer"
        AGREED = "agreed", "The two agree"
        DISAGREED = "disagreed", "The two differ: waiting for a ruling"
        DIFFERS_FROM_RULE = "differs", "The officer differs from the rule"
        RULED = "ruled", "Ruled on"

    kind = models.CharField(max_length=12, choices=ITEM_KINDS)
    item_id = models.BigIntegerField()
    stream = models.ForeignKey(
        "streams.StreamConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source)
    sampled_at = models.DateTimeField(default=timezone.now)
    first_status = models.CharField(max_length=12, choices=Reviewable.ReviewStatus)
    first_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_rule = models.CharField(max_length=200, blank=True)
    first_at = models.DateTimeField()
    # Who has it open now, so that two officers do not answer the same one.
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    held_until = models.DateTimeField(null=True, blank=True)
    second_status = models.CharField(max_length=12, blank=True, choices=Reviewable.ReviewStatus)
    second_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    second_at = models.DateTimeField(null=True, blank=True)
    second_reason_code = models.CharField(max_length=40, blank=True)
    second_note = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.WAITING)
    ruling = models.CharField(max_length=12, blank=True, choices=Reviewable.ReviewStatus)
    ruled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ruled_at = models.DateTimeField(null=True, blank=True)
    ruling_note = models.TextField(blank=True)

    objects = SecondReviewQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "item_id"], name="second_review_once")
        ]
        indexes = [models.Index(fields=["outcome", "id"], name="second_review_outcome")]
        permissions = [
            ("give_second_review", "Can give blind second reviews"),
            ("adjudicate_secondreview", "Can rule on disagreements between officers"),
            (
                "see_decisions_under_review",
                "Can see first decisions while they wait for a blind second review",
            ),
        ]

    def __str__(self):
        return f"Second review of {self.get_kind_display().lower()} {self.item_id}"

    @property
    def first_verdict(self) -> str:
        """approved or rejected: a rule's filter counts as a rejection."""
        return "approved" if self.first_status == "approved" else "rejected"

    def audit_snapshot(self) -> dict:
        name = lambda user: user.get_username() if user is not None else None  # noqa: E731
        return {
            "item": f"{self.kind} {self.item_id}",
            "source": self.source,
            "first_status": self.first_status,
            "first_by": name(self.first_by) or self.first_rule or None,
            "second_status": self.second_status or None,
            "second_by": name(self.second_by),
            "second_reason_code": self.second_reason_code,
            "second_note": commitment(self.second_note),
            "outcome": self.outcome,
            "ruling": self.ruling or None,
            "ruled_by": name(self.ruled_by),
            "ruling_note": commitment(self.ruling_note),
        }


class TrainingQuerySet(models.QuerySet):
    def current(self, on=None):
        """Attestations in force on `on` (today): completed, and not yet expired."""
        on = on or timezone.localdate()
        return self.filter(completed_on__lte=on).filter(
            models.Q(expires_on__isnull=True) | models.Q(expires_on__gte=on)
        )


class TrainingAttestation(models.Model):
    """That a person completed a training (the competence EU AI Act Art. 26(2) asks of those
    who oversee an AI system), recorded by a governance admin with its evidence."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trainings"
    )
    course = models.CharField(max_length=200)
    completed_on = models.DateField()
    expires_on = models.DateField(
        null=True, blank=True, help_text="When it must be renewed (empty: it does not expire)."
    )
    evidence = models.CharField(
        "evidence reference",
        max_length=300,
        help_text="Where the proof is kept: a certificate number, an LMS record, a document.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        editable=False,
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = TrainingQuerySet.as_manager()

    class Meta:
        ordering = ["person__username", "-completed_on"]
        verbose_name = "training attestation"

    def __str__(self):
        return f"{self.person}: {self.course} ({self.completed_on})"

    def clean(self):
        if self.expires_on and self.completed_on and self.expires_on <= self.completed_on:
            raise ValidationError({"expires_on": "It expires after it was completed."})

    @property
    def expired(self) -> bool:
        return self.expires_on is not None and self.expires_on < timezone.localdate()

    def audit_snapshot(self) -> dict:
        return {
            "person": self.person.get_username() if self.person_id else None,
            "course": self.course,
            "completed_on": self.completed_on.isoformat() if self.completed_on else None,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "evidence": self.evidence,
        }


def training_problem(user) -> str:
    """Why `user` is not shown as trained ("" when an attestation is in force): what the
    dashboard warns an officer of, and what blocks deciding when oversight asks for it."""
    trainings = TrainingAttestation.objects.filter(person=user)
    if trainings.current().exists():
        return ""
    last = trainings.order_by("-expires_on").first()
    if last is None:
        return "No training of yours is recorded"
    return f"Your training {last.course!r} expired on {last.expires_on.isoformat()}"


def trained_check(user) -> None:
    """When oversight asks for it, only people with a training in force decide (ValidationError
    otherwise, saying what to do)."""
    if OversightSettings.current().training_required:
        problem = training_problem(user)
        if problem:
            raise ValidationError(
                f"{problem}: deciding needs a current training. Ask a governance admin to "
                "record yours."
            )


def training_warning(user) -> str:
    """What the dashboard tells a reviewer about their training ("" when nothing): an
    expired attestation always; none at all only when deciding needs one."""
    if not user.has_perm("streams.review_insight"):
        return ""
    problem = training_problem(user)
    required = OversightSettings.current().training_required
    if not problem or (problem.startswith("No training") and not required):
        return ""
    if required:
        return f"{problem}: you cannot decide until a governance admin records a current one."
    return f"{problem}: ask a governance admin to record its renewal."


class Incident(models.Model):
    """A serious incident a person records (EU AI Act Art. 26(5), Art. 73): what happened,
    what it touched, whether the provider was told, what was done. Recorded and updated by
    one governance admin; closed only when a second accepts."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    occurred_at = models.DateTimeField("happened at")
    detected_at = models.DateTimeField("noticed at")
    what_happened = models.TextField()
    affected = models.TextField(
        "what it affected",
        blank=True,
        help_text="Streams, queues, conversations (ids), people: what an investigator needs.",
    )
    provider_informed_at = models.DateTimeField(
        "provider informed at",
        null=True,
        blank=True,
        help_text="When Genesys (the AI system's provider) was told; empty if not (yet).",
    )
    actions = models.TextField("what was done", blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.OPEN)
    closing_note = models.TextField(blank=True, help_text="Why it may be closed.")
    closed_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = "serious incident"

    def __str__(self):
        return self.title

    # What a person types about an incident may quote a customer: taken out before it is
    # kept (here, in the trail's snapshots, in evidence packs).
    FREE_TEXT = ("title", "what_happened", "affected", "actions", "closing_note")

    def save(self, *args, **kwargs):
        for name in self.FREE_TEXT:
            setattr(self, name, privacy.redacted(getattr(self, name)))
        super().save(*args, **kwargs)

    def clean(self):
        if self.occurred_at and self.detected_at and self.detected_at < self.occurred_at:
            raise ValidationError({"detected_at": "It was noticed after it happened."})

    def audit_snapshot(self) -> dict:
        return {
            "title": self.title,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
            "what_happened": self.what_happened,
            "affected": self.affected,
            "provider_informed_at": self.provider_informed_at.isoformat()
            if self.provider_informed_at
            else None,
            "actions": self.actions,
            "status": self.status,
            "closing_note": self.closing_note,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }

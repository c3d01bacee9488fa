from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from streams.reviewable import Reviewable


class AuditEntry(models.Model):
    """Who did what to which object, when, from where, with the state before and after.

    Entries are only ever added: the admin offers no change or delete, database triggers
    refuse UPDATE, DELETE and TRUNCATE, and each entry carries the SHA-256 of its content and
    of the entry before it, sealed with an HMAC (see audit.chain), so a changed or removed
    entry breaks the chain.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(
        "actor", max_length=150, help_text="The user's name, or the system component."
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField("object", max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField("previous entry's hash", max_length=64)
    entry_hash = models.CharField("hash", max_length=64, unique=True)
    key_id = models.CharField("HMAC key id", max_length=16, blank=True)
    entry_hmac = models.CharField("HMAC", max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self):
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.actor_label} {self.action} {self.object_repr}"


class DeniedTally(models.Model):
    """Refused requests from people not signed in (a page, the review socket, an API call
    with a bad token) and tries while locked out, counted per source address, minute and
    kind; each finished minute becomes one audit entry with its count (audit.denied)."""

    source = models.CharField(max_length=45, blank=True)
    minute = models.DateTimeField()
    what = models.CharField(max_length=120)
    count = models.PositiveIntegerField(default=0)
    example = models.CharField(max_length=200, blank=True, help_text="The first address asked.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "minute", "what"], name="denied_once")
        ]

    def __str__(self):
        return f"{self.count} {self.what} refused from {self.source or '?'} at {self.minute}"


class SsoGrant(models.Model):
    """A person's standing grant at the identity provider (its refresh token, encrypted with
    FIELD_ENCRYPTION_KEY), through which their roles are checked on a schedule between
    sign-ins (audit.sso)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_grant"
    )
    refresh_token = models.TextField(help_text="Encrypted.")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on grant"

    def __str__(self):
        return f"Single sign-on grant of {self.user}"


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


class SavedView(models.Model):
    """A review queue's filters and sort, under a name: an officer's own, or published by a
    governance admin for everyone."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    published = models.BooleanField(
        default=False, help_text="Published views are listed for every officer."
    )
    query = models.CharField(
        max_length=1000, help_text="The review page's address parameters: filters and sort."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_per_owner")
        ]

    def __str__(self):
        return self.name

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "owner": self.owner.get_username() if self.owner_id else None,
            "published": self.published,
            "query": self.query,
        }


class WorkspaceSettings(models.Model):
    """How officers share the work (one row): claims' size and length, assignments' length."""

    claim_size = models.PositiveSmallIntegerField(
        "items per claim",
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text="How many items 'Claim next' takes.",
    )
    claim_minutes = models.PositiveSmallIntegerField(
        "claim length (minutes)",
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(480)],
        help_text="A claim not decided by then is free again.",
    )
    assignment_hours = models.PositiveSmallIntegerField(
        "assignment length (hours)",
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(72)],
        help_text="How long items a lead assigns stay with the officer.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "workspace settings"
        verbose_name_plural = "workspace settings"
        permissions = [("assign_items", "Can assign review items to officers")]

    def __str__(self):
        return "Workspace settings"

    @classmethod
    def current(cls) -> "WorkspaceSettings":
        return cls.objects.get_or_create(pk=1)[0]

    def audit_snapshot(self) -> dict:
        return {
            "claim_size": self.claim_size,
            "claim_minutes": self.claim_minutes,
            "assignment_hours": self.assignment_hours,
        }


def time_zone_choices() -> list[tuple[str, str]]:
    import zoneinfo

    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class UserSettings(models.Model):
    """A person's own settings: the time zone their pages show times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_settings"
    )
    time_zone = models.CharField(
        max_length=64,
        choices=time_zone_choices,
        help_text="Times on pages, in messages and in the admin are shown in this zone. "
        "Downloads keep UTC (ISO 8601).",
    )

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self):
        return f"{self.user}: {self.time_zone}"

    @classmethod
    def time_zone_for(cls, user) -> str:
        row = cls.objects.filter(user=user).values_list("time_zone", flat=True).first()
        return row or settings.TIME_ZONE


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


# Retention floors (months): below these, records would be gone before the law allows.
# PCI DSS 4.0 10.5.1 keeps audit logs 12 months; the EU AI Act (Art. 26(6)) keeps the logs
# of a high-risk system's use at least six months.
RETENTION_FLOORS = {
    "insight_months": 6,
    "knowledge_months": 6,
    "quarantine_months": 1,
    "webhook_months": 1,
    "audit_months": 12,
}


def _months(name: str, label: str, default: int, help_text: str):
    return models.PositiveSmallIntegerField(
        f"{label} (months)",
        default=default,
        validators=[MinValueValidator(RETENTION_FLOORS[name]), MaxValueValidator(240)],
        help_text=f"{help_text} At least {RETENTION_FLOORS[name]} month(s).",
    )


class RetentionPolicy(models.Model):
    """How long each kind of record is kept (one row). The daily purge and `manage.py
    purge` delete what is older, in batches, each batch with a checkpoint in the chain."""

    insight_months = _months(
        "insight_months",
        "insights and decisions",
        13,
        "Insights and their decisions. Insights still waiting for a decision are kept.",
    )
    knowledge_months = _months(
        "knowledge_months", "knowledge queries", 13, "Knowledge queries and their results."
    )
    quarantine_months = _months("quarantine_months", "quarantined frames", 3, "Quarantined frames.")
    webhook_months = _months(
        "webhook_months",
        "webhook deliveries",
        3,
        "Delivered or failed webhook deliveries and their attempts.",
    )
    audit_months = _months(
        "audit_months",
        "audit entries",
        13,
        "Audit entries (the chain keeps a checkpoint for what goes).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policy"

    def __str__(self):
        return "Retention policy"

    @classmethod
    def current(cls) -> "RetentionPolicy":
        return cls.objects.get_or_create(pk=1)[0]

    def audit_snapshot(self) -> dict:
        return {name: getattr(self, name) for name in RETENTION_FLOORS}


class LegalHoldQuerySet(models.QuerySet):
    def active(self):
        return self.filter(released_at__isnull=True)


class LegalHold(models.Model):
    """While active, what it covers is never purged: everything, one stream's insights and
    frames, or one interaction's insights and knowledge queries. Any active hold also
    suspends the purge of audit entries."""

    class Scope(models.TextChoices):
        ALL = "all", "Everything"
        STREAM = "stream", "One stream"
        INTERACTION = "interaction", "One interaction (conversation)"

    scope = models.CharField(max_length=12, choices=Scope)
    stream = models.ForeignKey(
        "streams.StreamConfig",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="For a stream hold.",
    )
    interaction_id = models.CharField(
        max_length=128, blank=True, help_text="For an interaction hold: the conversation id."
    )
    reason = models.CharField(max_length=300, help_text="The matter, case or request.")
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    placed_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self):
        what = {
            self.Scope.ALL: "everything",
            self.Scope.STREAM: f"stream {self.stream}",
            self.Scope.INTERACTION: f"interaction {self.interaction_id}",
        }.get(self.scope, self.scope)
        state = "released" if self.released_at else "active"
        return f"Hold on {what} ({state}): {self.reason[:60]}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.scope == self.Scope.STREAM and self.stream_id is None:
            raise ValidationError({"stream": "Choose the stream this hold covers."})
        if self.scope == self.Scope.INTERACTION and not self.interaction_id.strip():
            raise ValidationError({"interaction_id": "Give the conversation id to hold."})

    def audit_snapshot(self) -> dict:
        return {
            "scope": self.scope,
            "stream": self.stream.name if self.stream_id else None,
            "interaction_id": self.interaction_id or None,
            "reason": self.reason,
            "released_at": self.released_at.isoformat() if self.released_at else None,
        }


class PurgePermit(models.Model):
    """The one way past the audit table's refusal to delete. The retention purge writes its
    checkpoint entry first, then a permit naming it for the entries `first_id` to
    `up_to_id` (the chain's oldest), then deletes them, in one transaction. Permits are kept
    (append-only, like entries): the database accepts one only in that shape (audit.triggers)."""

    checkpoint_id = models.BigIntegerField(unique=True)
    first_id = models.BigIntegerField()
    up_to_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return (
            f"Purge permit for entries {self.first_id} to {self.up_to_id} "
            f"(checkpoint {self.checkpoint_id})"
        )


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


class ItemOpening(models.Model):
    """When an officer first opened an item: the start of their decision time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12)
    item_id = models.BigIntegerField()
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "item_id", "user"], name="opening_once")
        ]

    def __str__(self):
        return f"{self.user} opened {self.kind} {self.item_id} at {self.opened_at}"


# What a second review is about, as people read it (the review kinds of audit.services).
ITEM_KINDS = [("insight", "Insight"), ("knowledge", "Knowledge answer")]


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
            "second_note": self.second_note,
            "outcome": self.outcome,
            "ruling": self.ruling or None,
            "ruled_by": name(self.ruled_by),
            "ruling_note": self.ruling_note,
        }

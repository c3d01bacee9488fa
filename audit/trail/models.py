"""What the audit trail keeps: the entries themselves, the permits the retention purge
deletes under, the retention policy and legal holds, and the per-minute counts of refusals."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """Who did what to which object, when, from where, with the state before and after.

    Entries are only ever added: the admin offers no change or delete, database triggers
    refuse UPDATE, DELETE and TRUNCATE, and each entry carries the SHA-256 of its content and
    of the entry before it, sealed with an HMAC (see audit.trail.chain), so a changed or removed
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
    kind; each finished minute becomes one audit entry with its count (audit.trail.denied)."""

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


# Retention floors (months): below these, records would be gone before the law allows.
# PCI DSS 4.0 10.5.1 keeps audit logs 12 months; the EU AI Act (Art. 26(6)) keeps the logs
# of a high-risk system's use at least six months.
RETENTION_FLOORS = {
    "insight_months": 6,
    "knowledge_months": 6,
    "quarantine_months": 1,
    "webhook_months": 1,
    "signin_months": 1,
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
    signin_months = _months(
        "signin_months",
        "sign-in records",
        3,
        "Sign-in attempts and lock-out records (they hold user names and addresses), and "
        "refusals counted per minute (each minute's count stays in the audit trail).",
    )
    pending_max_days = models.PositiveSmallIntegerField(
        "pending items expire after (days)",
        default=90,
        validators=[MinValueValidator(7), MaxValueValidator(3650)],
        help_text="An item nobody decided this long is filtered by rule (expired), recorded "
        "in the audit trail, and then kept and purged like any decided item. At least 7 days.",
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
        return {
            **{name: getattr(self, name) for name in RETENTION_FLOORS},
            "pending_max_days": self.pending_max_days,
        }


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
    release_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the hold was lifted (required to lift it)."
    )

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
            "release_reason": self.release_reason or None,
        }


class Permit(models.Model):
    """A range of entries the database lets one checkpoint's operation touch."""

    checkpoint_id = models.BigIntegerField(unique=True)
    first_id = models.BigIntegerField()
    up_to_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    WHAT = "Permit"

    class Meta:
        abstract = True

    def __str__(self):
        return (
            f"{self.WHAT} for entries {self.first_id} to {self.up_to_id} "
            f"(checkpoint {self.checkpoint_id})"
        )


class PurgePermit(Permit):
    """The one way past the audit table's refusal to delete. The retention purge writes its
    checkpoint entry first, then a permit naming it for the entries `first_id` to
    `up_to_id` (the chain's oldest), then deletes them, in one transaction. Permits are kept
    (append-only, like entries): the database accepts one only in that shape
    (audit.trail.triggers)."""

    WHAT = "Purge permit"


class RechainPermit(Permit):
    """The one way past the audit table's refusal to update: taking personal data out of
    entries that earlier versions wrote (audit.privacy.rechain). Its checkpoint entry is
    written first, naming the range and the old head's hash; the permit names it; the
    entries are rewritten and re-linked; a closing entry ends the window; all in one
    transaction. Append-only, accepted only in that shape (audit.trail.triggers)."""

    WHAT = "Re-chaining permit"

import hashlib
import os
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from pydantic import ValidationError as PydanticValidationError

from streams import crypto, outbound
from streams.genesys import regions, scoring
from streams.genesys.insights import StreamState
from streams.genesys.knowledge import Outcome
from streams.genesys.notifications import SUGGESTION_KINDS
from streams.genesys.payloads import FILTER_ATTRIBUTES, FILTER_OPERATORS, Filter

NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "Use letters, digits, dots, dashes and underscores, starting with a letter or digit.",
)
INSIGHT_TYPE_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]*$",
    "An insight type is lower-case letters, digits, dots, dashes and underscores.",
)
ENV_NAME_VALIDATOR = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", "An environment variable name is upper-case letters, digits and _."
)
UNIT_INTERVAL = [MinValueValidator(0.0), MaxValueValidator(1.0)]
MAX_INTERACTION_IDS = 1000


class GenesysConnection(models.Model):
    """How to reach one Genesys Cloud org (or a gateway, or the simulator)."""

    class Flavour(models.TextChoices):
        SEED = "seed", "Seed (analytics events WebSocket)"
        NOTIFICATIONS = "notifications", "Genesys Cloud notifications API"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    flavour = models.CharField(max_length=20, choices=Flavour, default=Flavour.SEED)
    region = models.CharField(
        max_length=64,
        blank=True,
        choices=[(domain, domain) for domain in regions.REGION_DOMAINS],
        help_text="The org's region; fills the API and login hosts.",
    )
    api_base_url = models.URLField(
        "custom API base URL",
        blank=True,
        help_text="For a gateway or the simulator, e.g. http://127.0.0.1:8001. "
        "Overrides the region.",
    )
    login_base_url = models.URLField(
        "custom login base URL",
        blank=True,
        help_text="Where /oauth/token lives, with a custom API URL.",
    )
    client_id = models.CharField("OAuth client id", max_length=200)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    client_secret_env = models.CharField(
        "client secret environment variable",
        max_length=100,
        blank=True,
        validators=[ENV_NAME_VALIDATOR],
        help_text="Read the secret from this environment variable instead of storing it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What an admin or a config document sets, besides the name and the secret.
    SETTINGS = (
        "flavour",
        "region",
        "api_base_url",
        "login_base_url",
        "client_id",
        "client_secret_env",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "Genesys connection"

    def __str__(self):
        return self.name

    def clean(self):
        if bool(self.api_base_url) != bool(self.login_base_url):
            raise ValidationError(
                "Give both custom base URLs (API and login), or neither and choose a region."
            )
        if not self.api_base_url and not self.region:
            raise ValidationError({"region": "Choose a region, or give custom base URLs."})
        if not self.client_secret_encrypted and not self.client_secret_env:
            raise ValidationError(
                {
                    "client_secret_env": "Give a client secret, or the name of the environment "
                    "variable that holds it."
                }
            )
        errors = {}
        if self.client_secret_env:
            errors["client_secret_env"] = outbound.secret_env_problem(self.client_secret_env)
        hosts = outbound.genesys_hosts()
        for field in ("api_base_url", "login_base_url"):
            if getattr(self, field):
                errors[field] = hosts.problem(getattr(self, field))
        errors = {field: problem for field, problem in errors.items() if problem}
        if errors:
            raise ValidationError(errors)

    @property
    def api_url(self) -> str:
        return (self.api_base_url or regions.api_base_url(self.region)).rstrip("/")

    @property
    def login_url(self) -> str:
        return (self.login_base_url or regions.login_base_url(self.region)).rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted or self.client_secret_env)

    def set_client_secret(self, plaintext: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(plaintext)

    def client_secret(self) -> str:
        """The secret in clear, for the token request only. Raises ValueError when missing."""
        if self.client_secret_env:
            problem = outbound.secret_env_problem(self.client_secret_env)
            if problem:
                raise ValueError(f"connection {self.name!r}: {problem}")
            value = os.environ.get(self.client_secret_env, "")
            if not value:
                raise ValueError(
                    f"environment variable {self.client_secret_env} (client secret of "
                    f"connection {self.name!r}) is not set"
                )
            return value
        if not self.client_secret_encrypted:
            raise ValueError(f"connection {self.name!r} has no client secret")
        return crypto.decrypt(self.client_secret_encrypted)

    def secret_or_problem(self) -> tuple[str, str]:
        """(secret, "") or ("", why a stream on this connection cannot start)."""
        try:
            return self.client_secret(), ""
        except ValueError as exc:
            return "", f"cannot start: {exc}"

    def secret_fingerprint(self) -> str:
        """Changes exactly when a new secret is stored; reveals nothing about it."""
        if self.client_secret_env:
            return f"env:{self.client_secret_env}"
        return crypto.fingerprint(self.client_secret_encrypted)

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "flavour": self.flavour,
            "region": self.region,
            "api_base_url": self.api_base_url,
            "login_base_url": self.login_base_url,
            "client_id": self.client_id,
            "client_secret": self.secret_fingerprint(),
        }


class ConfidenceMatrix(models.Model):
    """Per insight type: the confidence range that gets through and the relevance weight."""

    class NoConfidence(models.TextChoices):
        REVIEW = scoring.Verdict.REVIEW.value, "Hold for review"
        FILTER = scoring.Verdict.AUTO_FILTER.value, "Record as filtered"
        DROP = scoring.Verdict.DROP.value, "Do not store (count as filtered)"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    default_weight = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0)],
        help_text="Relevance weight for insight types that have no rule.",
    )
    no_confidence = models.CharField(
        "insights without a confidence",
        max_length=12,
        choices=NoConfidence,
        default=NoConfidence.REVIEW,
        help_text="Some insights carry no confidence (Genesys article, response and script "
        "suggestions): none is invented, and this rule decides them.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "confidence matrices"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_weight__gte=0), name="matrix_default_weight_not_negative"
            )
        ]

    def __str__(self):
        return self.name

    def to_matrix(self) -> scoring.Matrix:
        return scoring.Matrix(
            default_weight=self.default_weight,
            rules=tuple(rule.to_rule() for rule in self.rules.all()),
            name=self.name,
            no_confidence=scoring.Verdict(self.no_confidence),
        )

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "default_weight": self.default_weight,
            "no_confidence": self.no_confidence,
            "rules": [rule.audit_snapshot() for rule in self.rules.order_by("insight_type")],
        }


class ConfidenceRule(models.Model):
    matrix = models.ForeignKey(ConfidenceMatrix, on_delete=models.CASCADE, related_name="rules")
    insight_type = models.CharField(max_length=64, validators=[INSIGHT_TYPE_VALIDATOR])
    min_confidence = models.FloatField(default=0.0, validators=UNIT_INTERVAL)
    max_confidence = models.FloatField(default=1.0, validators=UNIT_INTERVAL)
    weight = models.FloatField("relevance weight", default=1.0, validators=[MinValueValidator(0.0)])
    auto_approve_at = models.FloatField(
        "auto-approve at",
        null=True,
        blank=True,
        validators=UNIT_INTERVAL,
        help_text="Approve automatically at or above this confidence (empty: never).",
    )
    auto_filter = models.BooleanField(
        "auto-filter below min",
        default=False,
        help_text="Record insights below the minimum as filtered, instead of not storing them.",
    )

    class Meta:
        ordering = ["insight_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["matrix", "insight_type"], name="rule_unique_insight_type_per_matrix"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    min_confidence__gte=0,
                    max_confidence__lte=1,
                    min_confidence__lte=models.F("max_confidence"),
                    weight__gte=0,
                ),
                name="rule_confidence_range_and_weight_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(auto_approve_at__isnull=True)
                | models.Q(auto_approve_at__gte=0, auto_approve_at__lte=1),
                name="rule_auto_approve_in_unit_interval",
            ),
        ]

    def __str__(self):
        return f"{self.insight_type}: {self.min_confidence}..{self.max_confidence} x{self.weight}"

    def clean(self):
        low, high, auto = self.min_confidence, self.max_confidence, self.auto_approve_at
        if low is None or high is None:
            return
        if low > high:
            raise ValidationError(
                {"min_confidence": f"min confidence {low} is above max confidence {high}"}
            )
        if auto is not None and not low <= auto <= high:
            raise ValidationError(
                {
                    "auto_approve_at": f"auto-approve at {auto} is outside the rule's range "
                    f"{low}..{high}"
                }
            )

    def to_rule(self) -> scoring.Rule:
        return scoring.Rule(
            insight_type=self.insight_type,
            min_confidence=self.min_confidence,
            max_confidence=self.max_confidence,
            weight=self.weight,
            auto_approve_at=self.auto_approve_at,
            auto_filter=self.auto_filter,
        )

    def audit_snapshot(self) -> dict:
        return {
            "insight_type": self.insight_type,
            "min_confidence": self.min_confidence,
            "max_confidence": self.max_confidence,
            "weight": self.weight,
            "auto_approve_at": self.auto_approve_at,
            "auto_filter": self.auto_filter,
        }


def validate_string_list(value, *, what: str, validator=None, limit: int | None = None):
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError(f"{what} must be a list of non-empty strings.")
    if len(set(value)) != len(value):
        raise ValidationError(f"{what} lists a value twice.")
    if limit is not None and len(value) > limit:
        raise ValidationError(f"{what} has {len(value)} entries; the limit is {limit}.")
    for item in value:
        if validator is not None:
            validator(item)
        if len(item) > 128 or not item.isprintable():
            raise ValidationError(f"{what}: {item[:40]!r} is too long or has control characters.")


class StreamConfig(models.Model):
    """One insights subscription: which interactions and types, scored by which matrix."""

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    connection = models.ForeignKey(
        GenesysConnection, on_delete=models.PROTECT, related_name="streams"
    )
    confidence_matrix = models.ForeignKey(
        ConfidenceMatrix, on_delete=models.PROTECT, related_name="streams"
    )
    interaction_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="One interaction id per line; empty means all (seed flavour only: "
        "the notifications flavour subscribes per conversation and needs them listed).",
    )
    insight_types = models.JSONField(
        default=list,
        blank=True,
        help_text="One insight type per line; empty means every type.",
    )
    enabled = models.BooleanField(
        default=False, help_text="Enabled streams are connected by the stream worker."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "stream"

    def __str__(self):
        return self.name

    @property
    def subscription_id(self) -> str:
        return f"assistgov-{self.name}"

    def clean(self):
        errors = {}
        for field, what, validator, limit in (
            ("interaction_ids", "Interaction ids", None, MAX_INTERACTION_IDS),
            ("insight_types", "Insight types", INSIGHT_TYPE_VALIDATOR, None),
        ):
            try:
                validate_string_list(
                    getattr(self, field), what=what, validator=validator, limit=limit
                )
            except ValidationError as exc:
                errors[field] = exc.messages
        notifications = GenesysConnection.Flavour.NOTIFICATIONS
        if not errors and self.connection_id and self.connection.flavour == notifications:
            errors = self.notifications_errors()
        if errors:
            raise ValidationError(errors)

    def notifications_errors(self) -> dict:
        """Real Genesys Cloud subscribes per conversation, to suggestion kinds."""
        errors = {}
        if not self.interaction_ids:
            errors["interaction_ids"] = (
                "The notifications flavour subscribes per conversation: list the conversation ids."
            )
        unknown = sorted(set(self.insight_types) - set(SUGGESTION_KINDS))
        if unknown:
            errors["insight_types"] = (
                f"{', '.join(unknown)}: not a suggestion kind. The notifications flavour's "
                f"insight types are {', '.join(SUGGESTION_KINDS)} (empty: all of them)."
            )
        return errors

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "connection": self.connection.name if self.connection_id else None,
            "confidence_matrix": (
                self.confidence_matrix.name if self.confidence_matrix_id else None
            ),
            "interaction_ids": self.interaction_ids,
            "insight_types": self.insight_types,
            "enabled": self.enabled,
            "filters": [f.audit_snapshot() for f in self.filters.order_by("pk")] if self.pk else [],
        }


class StreamFilter(models.Model):
    """An extra subscription filter, beyond the insight types and the confidence envelope."""

    stream = models.ForeignKey(StreamConfig, on_delete=models.CASCADE, related_name="filters")
    attribute = models.CharField(max_length=32, choices=[(a, a) for a in FILTER_ATTRIBUTES])
    operator = models.CharField(max_length=8, choices=[(o, o) for o in FILTER_OPERATORS])
    value = models.CharField(
        max_length=500, help_text="For 'in', comma-separated values. For gte/lte, a number."
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"{self.attribute} {self.operator} {self.value}"

    def as_wire(self) -> dict:
        value = self.value.strip()
        if self.operator == "in":
            parsed = [part.strip() for part in value.split(",") if part.strip()]
            if self.attribute == "confidence":
                parsed = [_number(part) for part in parsed]
        elif self.operator in ("gte", "lte") or self.attribute == "confidence":
            parsed = _number(value)
        else:
            parsed = value
        return {"type": self.operator, "attribute": self.attribute, "value": parsed}

    def clean(self):
        try:
            Filter.model_validate(self.as_wire())
        except PydanticValidationError as exc:
            raise ValidationError(
                {"value": [e["msg"].removeprefix("Value error, ") for e in exc.errors()]}
            ) from None

    def audit_snapshot(self) -> dict:
        return {"attribute": self.attribute, "operator": self.operator, "value": self.value}


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


class StreamStatus(models.Model):
    """What the stream worker last reported about a stream: shown in the admin."""

    stream = models.OneToOneField(
        StreamConfig, on_delete=models.CASCADE, primary_key=True, related_name="status"
    )
    state = models.CharField(
        max_length=20,
        choices=[(s.value, s.value) for s in StreamState],
        default=StreamState.STOPPED,
    )
    detail = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    last_event_id = models.CharField(max_length=128, blank=True)
    worker = models.CharField(
        max_length=100, blank=True, help_text="The stream worker holding the lease, if any."
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    reconnects = models.PositiveBigIntegerField(default=0)
    frames = models.PositiveBigIntegerField(default=0)
    insights_stored = models.PositiveBigIntegerField(default=0)
    duplicates = models.PositiveBigIntegerField(default=0)
    quarantined = models.PositiveBigIntegerField(default=0)
    filtered = models.PositiveBigIntegerField(
        default=0, help_text="Insights outside their type's confidence range."
    )

    class Meta:
        verbose_name_plural = "stream statuses"

    def __str__(self):
        return f"{self.stream_id}: {self.state}"


class WorkerHeartbeat(models.Model):
    """A running stream worker; streams are shared among those seen within a lease."""

    worker = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self):
        return self.worker


class InsightQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(review_status=Insight.ReviewStatus.PENDING)

    def decided(self):
        return self.exclude(review_status=Insight.ReviewStatus.PENDING)


class Reviewable(models.Model):
    """What an officer's decision (or a rule's) records: insights and knowledge answers."""

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        FILTERED = "filtered", "Filtered"

    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason_code = models.CharField("reason code", max_length=40, blank=True)
    review_note = models.TextField("note", blank=True)
    review_rule = models.CharField(
        "decided by rule", max_length=200, blank=True, help_text="Set for automatic decisions."
    )

    class Meta:
        abstract = True

    def audit_snapshot(self) -> dict:
        return {
            "review_status": self.review_status,
            "reviewed_by": self.reviewed_by.get_username() if self.reviewed_by_id else None,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "review_reason_code": self.review_reason_code,
            "review_note": self.review_note,
            "review_rule": self.review_rule,
        }


class Insight(Reviewable):
    """One agent-assist insight as received, scored, and reviewed."""

    stream = models.ForeignKey(StreamConfig, on_delete=models.PROTECT, related_name="insights")
    external_id = models.CharField(max_length=128)
    interaction_id = models.CharField(max_length=128)
    insight_type = models.CharField(max_length=64)
    # None when the insight carries no confidence (never invented).
    confidence = models.FloatField(null=True, blank=True)
    relevance_score = models.FloatField(null=True, blank=True)
    snippet = models.CharField(max_length=250, blank=True)
    payload = models.JSONField("raw payload")
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    latency_ms = models.FloatField("processing latency (ms)")
    review_status = models.CharField(
        max_length=10, choices=Reviewable.ReviewStatus, default=Reviewable.ReviewStatus.PENDING
    )

    objects = InsightQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "external_id"], name="insight_unique_external_id_per_stream"
            )
        ]
        indexes = [
            # The review queue's order (see audit.selectors), without a sort.
            models.Index(
                fields=["review_status", "confidence", "id"], name="insight_status_confidence"
            ),
            models.Index(fields=["-received_at"], name="insight_received"),
            models.Index(fields=["interaction_id"], name="insight_interaction"),
            models.Index(fields=["insight_type", "-received_at"], name="insight_type_received"),
        ]
        permissions = [("review_insight", "Can approve or reject insights")]

    def __str__(self):
        return f"{self.insight_type} {self.external_id}"


class QuarantinedFrame(models.Model):
    """A frame that could not become an insight, kept with the reason and its raw text."""

    RAW_LIMIT = 8192

    stream = models.ForeignKey(
        StreamConfig, on_delete=models.PROTECT, related_name="quarantined_frames"
    )
    received_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    encoding = models.CharField(max_length=20, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    raw = models.TextField(help_text=f"The frame as received, cut at {RAW_LIMIT} characters.")
    raw_size = models.PositiveIntegerField("size (bytes)")

    class Meta:
        indexes = [models.Index(fields=["-received_at"], name="quarantine_received")]
        verbose_name = "quarantined frame"

    def __str__(self):
        return f"{self.reason[:60]} ({self.raw_size} bytes)"


class WebhookEndpoint(models.Model):
    """A receiver of outbound events (a training platform, say), signed per Standard Webhooks."""

    class Event(models.TextChoices):
        INSIGHT_CREATED = "insight.created", "Insight created"
        INSIGHT_APPROVED = "insight.approved", "Insight approved"
        INSIGHT_REJECTED = "insight.rejected", "Insight rejected"
        KNOWLEDGE_VALIDATED = "knowledge.validated", "Knowledge validated"
        KNOWLEDGE_APPROVED = "knowledge.approved", "Knowledge answer approved"
        KNOWLEDGE_REJECTED = "knowledge.rejected", "Knowledge answer rejected"
        AUDIT_HEAD = "audit.head", "Audit chain head (published every few minutes)"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    url = models.URLField("URL", max_length=500)
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list, help_text="Which events this endpoint receives.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.name

    def clean(self):
        unknown = sorted(set(self.events or []) - set(self.Event.values))
        if not isinstance(self.events, list) or not self.events or unknown:
            raise ValidationError(
                {"events": f"Choose one or more of {', '.join(self.Event.values)}."}
            )
        if not self.secret_encrypted:
            raise ValidationError("A webhook endpoint needs a signing secret.")
        problem = outbound.webhook_hosts().problem(self.url) if self.url else ""
        if problem:
            raise ValidationError({"url": problem})

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)

    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "secret": crypto.fingerprint(self.secret_encrypted),
        }


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, written with the event it reports."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (retries used up)"

    id = models.CharField("webhook id", max_length=40, primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.event_type} to {self.endpoint_id}: {self.status}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_made"
    )
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.FloatField()
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["attempted_at"]

    def __str__(self):
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


# Knowledge search (seed 2)


class KnowledgeSource(models.Model):
    """A Genesys knowledge base that knowledge streams may query."""

    knowledge_base_id = models.CharField(
        "knowledge base id",
        max_length=128,
        unique=True,
        validators=[RegexValidator(r"^[^\x00-\x1f\x7f\s]+$", "No spaces or control characters.")],
    )
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True, help_text="Disabled sources are not queried.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.knowledge_base_id})"

    def audit_snapshot(self) -> dict:
        return {
            "knowledge_base_id": self.knowledge_base_id,
            "name": self.name,
            "enabled": self.enabled,
        }


class KnowledgeStream(models.Model):
    """Governed knowledge search: which sources, what a result must meet, how many at once."""

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    connection = models.ForeignKey(
        GenesysConnection, on_delete=models.PROTECT, related_name="knowledge_streams"
    )
    enabled = models.BooleanField(default=True, help_text="Disabled streams refuse queries.")
    max_results = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    confidence_threshold = models.FloatField(
        default=0.75, validators=UNIT_INTERVAL, help_text="Results below it are filtered."
    )
    language = models.CharField(
        max_length=35,
        default="en-US",
        validators=[RegexValidator(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", "A BCP 47 tag.")],
    )
    freshness_days = models.PositiveIntegerField(
        "freshness limit (days)",
        default=90,
        validators=[MinValueValidator(1)],
        help_text="Results last updated longer ago are filtered as stale.",
    )
    max_in_flight = models.PositiveSmallIntegerField(
        "max queries in flight",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    query_timeout_seconds = models.FloatField(
        "query timeout (s)",
        default=15.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(120)],
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        "cache TTL (s)",
        default=300,
        validators=[MaxValueValidator(86400)],
        help_text="How long answers are reused; 0 turns the cache off.",
    )
    sources = models.ManyToManyField(
        KnowledgeSource, through="KnowledgeStreamSource", related_name="streams"
    )
    auto_query_types = models.JSONField(
        "query automatically for insight types",
        default=list,
        blank=True,
        help_text="One insight type per line: each new insight of these types is searched "
        "with its text, and the answer joins the review queue. Empty: no automatic queries.",
    )
    # What the stream worker last saw of the connection (it keeps one open for warming).
    state = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in StreamState], default="stopped"
    )
    state_detail = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    max_results__gte=1,
                    max_results__lte=20,
                    confidence_threshold__gte=0,
                    confidence_threshold__lte=1,
                    freshness_days__gte=1,
                    max_in_flight__gte=1,
                    query_timeout_seconds__gte=0.5,
                ),
                name="knowledge_stream_bounds",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        try:
            validate_string_list(
                self.auto_query_types,
                what="Insight types",
                validator=INSIGHT_TYPE_VALIDATOR,
            )
        except ValidationError as exc:
            raise ValidationError({"auto_query_types": exc.messages}) from None

    def priorities(self) -> dict[str, int]:
        """Knowledge base id -> priority, for the enabled sources (1 ranks first)."""
        links = self.source_links.filter(source__enabled=True).select_related("source")
        return {link.source.knowledge_base_id: link.priority for link in links}

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "connection": self.connection.name if self.connection_id else None,
            "enabled": self.enabled,
            "max_results": self.max_results,
            "confidence_threshold": self.confidence_threshold,
            "language": self.language,
            "freshness_days": self.freshness_days,
            "max_in_flight": self.max_in_flight,
            "query_timeout_seconds": self.query_timeout_seconds,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "auto_query_types": self.auto_query_types,
            "sources": (
                [
                    {"knowledge_base_id": link.source.knowledge_base_id, "priority": link.priority}
                    for link in self.source_links.select_related("source").order_by("priority")
                ]
                if self.pk
                else []
            ),
        }


class KnowledgeStreamSource(models.Model):
    stream = models.ForeignKey(
        KnowledgeStream, on_delete=models.CASCADE, related_name="source_links"
    )
    source = models.ForeignKey(KnowledgeSource, on_delete=models.PROTECT, related_name="links")
    priority = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="1..10; passed results from priority 1 rank first.",
    )

    class Meta:
        ordering = ["priority", "pk"]
        verbose_name = "knowledge source of the stream"
        constraints = [
            models.UniqueConstraint(fields=["stream", "source"], name="knowledge_source_once"),
            models.CheckConstraint(
                condition=models.Q(priority__gte=1, priority__lte=10),
                name="knowledge_priority_1_to_10",
            ),
        ]

    def __str__(self):
        return f"{self.source} (priority {self.priority})"


class KnowledgeQuery(Reviewable):
    """One knowledge search and what governance made of its results (seed 2's audit record)."""

    class Status(models.TextChoices):
        ANSWERED = "answered"
        ERROR = "error"
        TIMEOUT = "timeout"
        BUSY = "busy"
        LOST = "lost"
        UNAVAILABLE = "unavailable"

    class Origin(models.TextChoices):
        CONSOLE = "console", "console"
        API = "api", "API"
        INSIGHT = "insight", "insight (automatic)"
        WARMING = "warming", "cache warming"

    # What reached an agent is reviewed: answers to the API and to insights.
    REVIEWED_ORIGINS = (Origin.API, Origin.INSIGHT)
    # The review page's type for knowledge answers, beside the insight types.
    REVIEW_TYPE = "knowledge.answer"

    stream = models.ForeignKey(KnowledgeStream, on_delete=models.PROTECT, related_name="queries")
    query_id = models.CharField(max_length=64, unique=True)
    conversation_id = models.CharField(max_length=128)
    query_text = models.CharField(max_length=500)
    cache_key = models.CharField(max_length=64, db_index=True)
    origin = models.CharField(max_length=16, choices=Origin)
    requested_by = models.CharField(max_length=150)
    status = models.CharField(max_length=16, choices=Status)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    governance_status = models.CharField(max_length=16, blank=True)
    cache_hit = models.BooleanField(default=False)
    results_returned = models.PositiveIntegerField(default=0)
    results_validated = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0.0)
    attempts = models.PositiveSmallIntegerField(default=0)
    results = models.JSONField(default=list, blank=True)
    top_confidence = models.FloatField(
        null=True,
        blank=True,
        help_text="The best passed result's confidence (of a filtered answer: the best result's).",
    )
    insight = models.ForeignKey(
        Insight,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="knowledge_queries",
        help_text="The insight whose text was searched, for automatic queries.",
    )
    created_at = models.DateTimeField(db_index=True)
    # Blank for queries no agent saw: console and warming queries, and failures.
    review_status = models.CharField(
        max_length=10, choices=Reviewable.ReviewStatus, blank=True, default=""
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "knowledge queries"
        permissions = [
            ("run_knowledgequery", "Can run knowledge queries"),
            ("review_knowledgequery", "Can approve or reject knowledge answers"),
        ]
        indexes = [
            models.Index(fields=["stream", "created_at"], name="knowledge_stream_time"),
            models.Index(
                fields=["review_status", "top_confidence"], name="knowledge_status_confidence"
            ),
        ]

    def __str__(self):
        return f"{self.query_text[:60]} ({self.status})"

    def passed_results(self) -> list[dict]:
        """The results that reach an agent, in rank order."""
        return [r for r in self.results if r["outcome"] == Outcome.PASSED]

    def filtered_results(self) -> list[dict]:
        """The results governance held back, each with its reason."""
        return [r for r in self.results if r["outcome"] != Outcome.PASSED]

    def audit_fields(self) -> dict:
        """Seed 2's audit schema."""
        return {
            "timestamp": self.created_at.isoformat(),
            "conversation_id": self.conversation_id,
            "query_id": self.query_id,
            "latency_ms": round(self.latency_ms, 2),
            "results_returned": self.results_returned,
            "results_validated": self.results_validated,
            "cache_hit": self.cache_hit,
            "governance_status": self.governance_status or self.status.upper(),
        }


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    PREFIX = "agk_"

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self):
        return self.name

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def digest(plaintext: str) -> str:
        # Tokens are 256-bit random values, so a fast hash is as good as a slow one.
        return hashlib.sha256(plaintext.encode()).hexdigest()

    def issue(self) -> str:
        """Give this (unsaved) token a new secret value; returns it, for showing once."""
        plaintext = self.PREFIX + secrets.token_urlsafe(32)
        self.prefix = plaintext[: len(self.PREFIX) + 4]
        self.token_hash = self.digest(plaintext)
        return plaintext

    @classmethod
    def authenticate(cls, plaintext: str) -> "ApiToken | None":
        if not plaintext.startswith(cls.PREFIX) or len(plaintext) > 100:
            return None
        return cls.objects.filter(token_hash=cls.digest(plaintext), revoked_at=None).first()

    def audit_snapshot(self) -> dict:
        return {"name": self.name, "prefix": self.prefix, "revoked": self.revoked_at is not None}

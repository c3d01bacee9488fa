"""Connections to Genesys, confidence matrices and stream configuration: what admins set."""

import os

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from pydantic import ValidationError as PydanticValidationError

from streams import crypto, outbound
from streams.genesys import regions, scoring
from streams.genesys.payloads import (
    FILTER_ATTRIBUTES,
    FILTER_OPERATORS,
    KNOWN_INSIGHT_TYPES,
    Filter,
    type_words,
)
from streams.genesys.suggestions import SUGGESTION_KINDS
from streams.genesys.summaries import SUMMARY_TYPE

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
# Queue and agent topics share the first channel with conversations' topics.
MAX_FOLLOWED = 200


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

    def to_matrix(self, version: "ConfigVersion | None" = None) -> scoring.Matrix:
        """The matrix the worker judges with; with `version`, named and recorded by it."""
        return scoring.Matrix(
            default_weight=self.default_weight,
            rules=tuple(rule.to_rule() for rule in self.rules.all()),
            name=self.name,
            no_confidence=scoring.Verdict(self.no_confidence),
            version=version.number if version else 0,
            version_id=version.pk if version else None,
        )

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "default_weight": self.default_weight,
            "no_confidence": self.no_confidence,
            "rules": [rule.audit_snapshot() for rule in self.rules.order_by("insight_type")],
        }


# The insight types a rule may name without one having been received: the seed protocol's
# and Genesys' suggestion kinds and summaries. A gateway's own type is known once received.
KNOWN_TYPES = frozenset({*KNOWN_INSIGHT_TYPES, *SUGGESTION_KINDS, SUMMARY_TYPE})


def known_insight_type(insight_type: str) -> bool:
    if insight_type in KNOWN_TYPES:
        return True
    insights = apps.get_model("streams", "Insight")  # a model that imports this module
    return insights.objects.filter(insight_type=insight_type).exists()


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
        """Compliance flag: 0.40 to 1.00, weight 0.9, auto-approve at 0.95"""
        words = self.range_words()
        if self.auto_approve_at is not None:
            words += f", auto-approve at {self.auto_approve_at:.2f}"
        if self.auto_filter:
            words += ", auto-filter below the minimum"
        return words

    def range_words(self, type_name: str | None = None) -> str:
        """Compliance flag: 0.40 to 1.00, weight 0.9 (`type_name`: the type's label)."""
        return (
            f"{type_name or type_words(self.insight_type)}: {self.min_confidence:.2f} to "
            f"{self.max_confidence:.2f}, weight {self.weight:g}"
        )

    def clean(self):
        if self.insight_type and not known_insight_type(self.insight_type):
            raise ValidationError(
                {
                    "insight_type": f"{self.insight_type}: no insight of this type has been "
                    "received and it is not one Genesys or the seed protocol names; check the "
                    f"spelling (known: {', '.join(sorted(KNOWN_TYPES))})."
                }
            )
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
        help_text="One interaction id per line; empty means all (seed flavour). The "
        "notifications flavour subscribes per conversation: list them, or follow queues or "
        "agents below.",
    )
    queue_ids = models.JSONField(
        "queues to follow",
        default=list,
        blank=True,
        help_text="Notifications flavour: Genesys queue ids, one per line. Each conversation "
        "that starts in one of these queues is followed as it starts (its suggestions "
        "subscribed, and back-filled) and let go a while after it ends. The seed flavour has "
        "no queues and ignores them.",
    )
    user_ids = models.JSONField(
        "agents to follow",
        default=list,
        blank=True,
        help_text="Notifications flavour: Genesys user ids of agents, one per line; each of "
        "their conversations is followed as for queues.",
    )
    insight_types = models.JSONField(
        default=list,
        blank=True,
        help_text="One insight type per line; empty means every type.",
    )
    enabled = models.BooleanField(
        default=False, help_text="Enabled streams are connected by the stream worker."
    )
    send_verdicts = models.BooleanField(
        "send officers' verdicts to Genesys",
        default=False,
        help_text="Notifications flavour only. An officer's approval or rejection of a "
        "suggestion is sent to Genesys as the suggestion's feedback (Positive or Negative). "
        "It then counts in Genesys' Copilot analytics beside agents' own feedback. Needs the "
        "permission conversation:suggestionEngagement:add.",
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
            ("queue_ids", "Queues", None, MAX_FOLLOWED),
            ("user_ids", "Agents", None, MAX_FOLLOWED),
            ("insight_types", "Insight types", INSIGHT_TYPE_VALIDATOR, None),
        ):
            try:
                validate_string_list(
                    getattr(self, field), what=what, validator=validator, limit=limit
                )
            except ValidationError as exc:
                errors[field] = exc.messages
        notifications = (
            self.connection_id is not None
            and self.connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS
        )
        if not errors and notifications:
            errors = self.notifications_errors()
        if self.send_verdicts and self.connection_id and not notifications:
            errors["send_verdicts"] = (
                "Verdicts go back as Genesys suggestion feedback: this needs a connection of "
                "the notifications flavour (real Genesys Cloud)."
            )
        if errors:
            raise ValidationError(errors)

    def notifications_errors(self) -> dict:
        """Real Genesys Cloud subscribes per conversation, to suggestion kinds."""
        errors = {}
        if not (self.interaction_ids or self.queue_ids or self.user_ids):
            errors["interaction_ids"] = (
                "The notifications flavour subscribes per conversation: name queues or agents "
                "to follow (their conversations are found as they start), or list conversation "
                "ids."
            )
        known = [*SUGGESTION_KINDS, SUMMARY_TYPE]
        unknown = sorted(set(self.insight_types) - set(known))
        if unknown:
            errors["insight_types"] = (
                f"{', '.join(unknown)}: not a suggestion kind. The notifications flavour's "
                f"insight types are {', '.join(known)} (empty: all of them)."
            )
        elif self.insight_types == [SUMMARY_TYPE] and not (self.queue_ids or self.user_ids):
            errors["insight_types"] = (
                "Summaries alone come from followed queues and agents: name queues or agents "
                "to follow, or add suggestion kinds."
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
            "queue_ids": self.queue_ids,
            "user_ids": self.user_ids,
            "insight_types": self.insight_types,
            "enabled": self.enabled,
            "send_verdicts": self.send_verdicts,
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


class ConfigVersion(models.Model):
    """One version of a setting that decides what people see (a confidence matrix, a
    stream's filters, a knowledge stream's thresholds, the oversight sampling): its whole
    snapshot as it was from `created_at` until the next version. Items record the version
    that judged them, so "the rule that applied" is that rule, not today's. Never changed
    nor deleted (streams.config.versions writes them)."""

    model = models.CharField(max_length=100)  # the setting's model, as app_label.model
    object_pk = models.PositiveBigIntegerField()
    name = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    # Who made it: "admin", "change request 12", a command; and the person, when one.
    source = models.CharField(max_length=200)
    actor_label = models.CharField("by", max_length=150, blank=True)

    class Meta:
        ordering = ["model", "object_pk", "-number"]
        verbose_name = "setting version"
        constraints = [
            models.UniqueConstraint(
                fields=["model", "object_pk", "number"], name="config_version_number_once"
            )
        ]

    def __str__(self):
        return f"{self.name} version {self.number}"


class GenesysAssistants(models.Model):
    """The last reading of a connection's Agent Assist configuration in Genesys (its
    assistants, their copilot settings and queues): what the next reading is compared with.
    Each difference is an audit entry (audit.trail.drift); this keeps only the latest."""

    connection = models.OneToOneField(
        GenesysConnection, on_delete=models.CASCADE, related_name="assistants_read"
    )
    read_at = models.DateTimeField()
    assistants = models.JSONField(default=dict)
    problem = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "Genesys assistants reading"

    def __str__(self):
        return f"Genesys assistants of {self.connection}"


class ChangeRequestQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=ChangeRequest.Status.PENDING)


class ChangeRequest(models.Model):
    """Four-eyes: a configuration change one governance admin proposed, waiting for a second
    (never the author) to accept it, when it is applied, or to decline it. Nothing of it
    takes effect before: the worker keeps the configuration it has."""

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        CHANGE = "change", "Change"
        DELETE = "delete", "Delete"
        IMPORT = "import", "Configuration import"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second admin"
        ACCEPTED = "accepted", "Accepted and applied"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn by its author"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=8, choices=Kind)
    summary = models.CharField(max_length=200)
    # One entry per object touched: {"label", "model", "pk", "before", "after"}.
    changes = models.JSONField(default=list)
    # What is imported when accepted (streams.config.documents), empty for a deletion.
    document = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField("author", max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_changerequest", "Can accept or decline others' change requests")]

    def __str__(self):
        return f"Change request {self.pk}: {self.summary}"

    def audit_snapshot(self) -> dict:
        return {
            "kind": self.kind,
            "summary": self.summary,
            # A new secret travels encrypted with its change, a new API token as its hash:
            # neither is in the trail.
            "changes": [
                {
                    key: _without(value, "token_hash") if key == "values" else value
                    for key, value in change.items()
                    if key != "secret_encrypted"
                }
                for change in self.changes
            ],
            "author": self.author_label,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "status": self.status,
            "decided_by": self.decided_by.get_username() if self.decided_by_id else None,
            "comment": self.comment,
        }


def _without(values, key: str):
    return {k: v for k, v in values.items() if k != key} if isinstance(values, dict) else values

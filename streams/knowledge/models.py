"""Governed knowledge search: knowledge sources, knowledge streams, and every query with
what governance made of its results (seed 2's audit record)."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from streams.config.models import (
    INSIGHT_TYPE_VALIDATOR,
    NAME_VALIDATOR,
    UNIT_INTERVAL,
    GenesysConnection,
    validate_string_list,
)
from streams.genesys.knowledge import Outcome
from streams.ingest.models import Insight
from streams.reviewable import Reviewable, ReviewQuerySet, search_entry
from streams.worker.models import StreamState


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
    send_verdicts = models.BooleanField(
        "send officers' rejections to Genesys",
        default=False,
        help_text="Notifications flavour only. An officer's rejection of a knowledge answer is "
        "sent to Genesys as Negative feedback on the answer's first document (reason: its "
        "content; the officer's note as the comment; final). It then counts in Genesys' "
        "knowledge feedback beside agents' own. Needs the permission knowledge:feedback:create.",
    )
    # What the stream worker last saw of the connection (it keeps one open for warming).
    state = models.CharField(max_length=20, choices=StreamState, default=StreamState.STOPPED)
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
        notifications = (
            self.connection_id is not None
            and self.connection.flavour == GenesysConnection.Flavour.NOTIFICATIONS
        )
        if self.send_verdicts and self.connection_id and not notifications:
            raise ValidationError(
                {
                    "send_verdicts": "Rejections go back as Genesys knowledge document feedback: "
                    "this needs a connection of the notifications flavour (real Genesys Cloud)."
                }
            )

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
            "send_verdicts": self.send_verdicts,
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
        INSIGHT = "insight", "automatically, for an insight"
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

    objects = ReviewQuerySet.as_manager()

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
            models.Index(
                fields=["review_status", "created_at", "id"], name="knowledge_status_created"
            ),
        ]

    def __str__(self):
        # A reference, never the text: this is what the audit trail and logs name.
        return f"Knowledge query {self.query_id[:12]} ({self.status})"

    @property
    def original_text(self) -> str:
        return self.query_text

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


KnowledgeQuerySearchEntry = search_entry("KnowledgeQuery", "knowledge_search")

"""Webhook endpoints, and the outbox of deliveries with their attempts."""

from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from streams import crypto, outbound
from streams.config.models import NAME_VALIDATOR
from streams.genesys.knowledge_rest import document_feedback_body


class WebhookEndpoint(models.Model):
    """A receiver of outbound events (a training platform, say), signed per Standard Webhooks."""

    class Event(models.TextChoices):
        INSIGHT_CREATED = "insight.created", "Insight created"
        INSIGHT_APPROVED = "insight.approved", "Insight approved"
        INSIGHT_REJECTED = "insight.rejected", "Insight rejected"
        SUMMARY_CREATED = "summary.created", "Conversation summary created"
        SUMMARY_APPROVED = "summary.approved", "Conversation summary approved"
        SUMMARY_REJECTED = "summary.rejected", "Conversation summary rejected"
        KNOWLEDGE_VALIDATED = "knowledge.validated", "Knowledge validated"
        KNOWLEDGE_APPROVED = "knowledge.approved", "Knowledge answer approved"
        KNOWLEDGE_REJECTED = "knowledge.rejected", "Knowledge answer rejected"
        AUDIT_HEAD = "audit.head", "Audit chain head (published every few minutes)"
        AUDIT_CHAIN_BROKEN = "audit.chain_broken", "Audit chain found broken (by its check)"
        EVIDENCE_PACK = "evidence.pack", "Evidence pack written (its signed manifest)"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    url = models.URLField("URL", max_length=500)
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list, help_text="Which events this endpoint receives.")
    enabled = models.BooleanField(default=True)
    batch_size = models.PositiveSmallIntegerField(
        "events per request",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="1: one event per POST. More: up to this many events in one POST, as "
        '{"type": "batch", "timestamp", "data": [each event with its "id"]}, signed once with '
        "one webhook-id, for receivers that take batches (see the README).",
    )
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
            "batch_size": self.batch_size,
            "disabled_reason": self.disabled_reason,
            "secret": crypto.fingerprint(self.secret_encrypted),
        }


class OutboxRow(models.Model):
    """What every outbox row carries to be claimed by one worker at a time and retried:
    webhook deliveries, and verdicts sent to Genesys."""

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True


class OutboxBatch(models.Model):
    """The events of one ingest batch, waiting to become deliveries: one row per event type
    and batch, written in the batch's transaction (so an event is never lost nor sent twice),
    with the events' data as they were then. The dispatcher turns it into one delivery per
    event and endpoint, off the ingest path."""

    event_type = models.CharField(max_length=40)
    items = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "outbox batch"

    def __str__(self):
        return f"{len(self.items)} {self.event_type} events"


class WebhookDelivery(OutboxRow):
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


class GenesysFeedback(OutboxRow):
    """An officer's verdict sent to Genesys: on a suggestion, as the suggestion's feedback;
    on a knowledge answer, as the answer's document's feedback (the outbox of the write-back,
    delivered by the stream worker like webhooks: claimed, retried, never blocking
    ingestion)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    class Kind(models.TextChoices):
        SUGGESTION = "suggestion", "Suggestion feedback"
        DOCUMENT = "document", "Knowledge document feedback"
        SUMMARY = "summary", "Summary feedback"

    kind = models.CharField(max_length=12, choices=Kind, default=Kind.SUGGESTION)
    stream = models.ForeignKey(
        "streams.StreamConfig",
        on_delete=models.PROTECT,
        related_name="feedback",
        null=True,
        blank=True,
    )
    knowledge_stream = models.ForeignKey(
        "streams.KnowledgeStream",
        on_delete=models.PROTECT,
        related_name="feedback",
        null=True,
        blank=True,
    )
    insight = models.ForeignKey(
        "streams.Insight", on_delete=models.SET_NULL, null=True, related_name="feedback"
    )
    knowledge_query = models.ForeignKey(
        "streams.KnowledgeQuery",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
    )
    conversation_id = models.CharField(max_length=128)
    suggestion_id = models.CharField(max_length=128, blank=True)
    knowledge_base_id = models.CharField(max_length=128, blank=True)
    document_id = models.CharField(max_length=128, blank=True)
    document_version_id = models.CharField(max_length=128, blank=True)
    document_variation_id = models.CharField(max_length=128, blank=True)
    comment = models.TextField(
        blank=True,
        help_text="The officer's note (document feedback), or the summary as the officer left "
        "it (summary feedback).",
    )
    rating = models.CharField(max_length=10)  # Positive or Negative
    decided_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "verdict sent to Genesys"
        verbose_name_plural = "verdicts sent to Genesys"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="feedback_due")]

    def __str__(self):
        if self.kind == self.Kind.DOCUMENT:
            return f"{self.rating} feedback on document {self.document_id}"
        if self.kind == self.Kind.SUMMARY:
            return f"{self.rating} feedback on summary {self.suggestion_id}"
        return f"{self.rating} feedback on suggestion {self.suggestion_id}"

    @property
    def connection(self):
        return (self.knowledge_stream or self.stream).connection

    @property
    def path(self) -> str:
        if self.kind == self.Kind.DOCUMENT:
            kb, doc = quote(self.knowledge_base_id, safe=""), quote(self.document_id, safe="")
            return f"/api/v2/knowledge/knowledgebases/{kb}/documents/{doc}/feedback"
        if self.kind == self.Kind.SUMMARY:
            conversation = quote(self.conversation_id, safe="")
            return f"/api/v2/conversations/{conversation}/summaries/{self.suggestion_id}/feedback"
        return (
            f"/api/v2/conversations/{self.conversation_id}/suggestions/{self.suggestion_id}"
            "/engagement"
        )

    def body(self) -> dict:
        if self.kind == self.Kind.DOCUMENT:
            # `KnowledgeDocumentFeedback`: the document's content was judged, finally.
            return document_feedback_body(
                rating=self.rating,
                comment=self.comment,
                document_id=self.document_id,
                version_id=self.document_version_id,
                variation_id=self.document_variation_id,
                knowledge_base_id=self.knowledge_base_id,
            )
        if self.kind == self.Kind.SUMMARY:  # `FeedbackAddRequest`
            return {"rating": self.rating, "summary": self.comment}
        return {"engagementType": "Feedback", "feedback": {"rating": self.rating}}

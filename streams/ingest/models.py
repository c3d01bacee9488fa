"""Insights as stored, and the frames that could not become insights (quarantine)."""

from django.db import models

from streams.config.models import StreamConfig
from streams.genesys.payloads import type_words
from streams.genesys.summaries import SUMMARY_TYPE
from streams.reviewable import Reviewable, ReviewQuerySet, search_entry


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

    objects = ReviewQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "external_id"], name="insight_unique_external_id_per_stream"
            )
        ]
        indexes = [
            # The review queue's order (see audit.review.selectors), without a sort.
            models.Index(
                fields=["review_status", "confidence", "id"], name="insight_status_confidence"
            ),
            models.Index(fields=["-received_at"], name="insight_received"),
            models.Index(fields=["interaction_id"], name="insight_interaction"),
            models.Index(fields=["insight_type", "-received_at"], name="insight_type_received"),
            # The review queue sorted by time (newest or oldest first), keyset-paged.
            models.Index(
                fields=["review_status", "received_at", "id"], name="insight_status_received"
            ),
        ]
        permissions = [("review_insight", "Can approve or reject insights")]

    def __str__(self):
        """ "Compliance flag 3357": what people call it everywhere (the trail, the admin), as
        the review page does; Genesys' own id is its detail, on its page."""
        return (
            f"{type_words(self.insight_type)} {self.pk}"
            if self.pk
            else type_words(self.insight_type)
        )

    @property
    def original_text(self) -> str:
        """What officers review: the snippet, or a summary's whole text."""
        if self.insight_type == SUMMARY_TYPE:
            return (self.payload or {}).get("text") or self.snippet
        return self.snippet


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


InsightSearchEntry = search_entry("Insight", "insight_search")

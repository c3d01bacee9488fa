"""What the stream workers report: each stream's state and counters, and which worker holds
it (leases), and the workers alive."""

from django.db import models

from streams.config.models import StreamConfig


class StreamState(models.TextChoices):
    """A stream's (or knowledge stream's) connection, as the worker last reported it."""

    STOPPED = "stopped", "stopped"
    STARTING = "starting", "starting"
    CONNECTED = "connected", "connected"
    RECONNECTING = "reconnecting", "reconnecting"
    SATURATED = "saturated", "saturated"
    ERROR = "error", "error"


class StreamStatus(models.Model):
    """What the stream worker last reported about a stream: shown in the admin."""

    stream = models.OneToOneField(
        StreamConfig, on_delete=models.CASCADE, primary_key=True, related_name="status"
    )
    state = models.CharField(
        max_length=20,
        choices=StreamState,
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
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker tries again, while it waits to."
    )
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


class FollowedConversation(models.Model):
    """A conversation a notifications stream follows because it started in a followed queue
    or with a followed agent: kept so that a restart or another worker follows it too."""

    stream = models.ForeignKey(StreamConfig, on_delete=models.CASCADE, related_name="followed")
    conversation_id = models.CharField(max_length=128)
    via = models.CharField(max_length=160, help_text="The queue or agent it was found through.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    waiting = models.BooleanField(
        default=False, help_text="Seen but not subscribed: the channels had no room."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "conversation_id"], name="followed_conversation_once"
            )
        ]
        ordering = ["started_at", "pk"]

    def __str__(self):
        return self.conversation_id


class Reconciliation(models.Model):
    """Genesys' count of a stream's suggestions over an interval against what was stored;
    the conversations short are back-filled."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Waiting for the stream worker"
        MATCHED = "matched", "Every suggestion Genesys counted is accounted for"
        FILLED = "filled", "Missing suggestions found and back-filled"
        SHORT = "short", "Some of Genesys' count not accounted for"
        FAILED = "failed", "Could not be checked"

    stream = models.ForeignKey(
        StreamConfig, on_delete=models.CASCADE, related_name="reconciliations"
    )
    interval_start = models.DateTimeField()
    interval_end = models.DateTimeField()
    requested_by = models.CharField(max_length=150, help_text="A person, or the daily check.")
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State, default=State.REQUESTED)
    genesys_count = models.PositiveIntegerField(null=True, blank=True)
    stored_before = models.PositiveIntegerField(null=True, blank=True)
    stored_after = models.PositiveIntegerField(null=True, blank=True)
    dropped_by_design = models.PositiveIntegerField(
        null=True, blank=True, help_text="Dropped by the stream's filters or confidence rules."
    )
    by_type = models.JSONField(
        default=dict, blank=True, help_text="Per suggestion kind: Genesys, stored before, after."
    )
    conversations_short = models.JSONField(
        default=list, blank=True, help_text="The conversations short, back-filled (at most 200)."
    )
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["stream", "state"], name="reconciliation_state")]

    def __str__(self):
        return f"{self.stream_id} {self.interval_start:%Y-%m-%d %H:%M}: {self.state}"

    @property
    def missing(self) -> int | None:
        """Counted by Genesys, neither stored nor dropped as configured."""
        if self.genesys_count is None or self.stored_after is None:
            return None
        return max(0, self.genesys_count - self.stored_after - (self.dropped_by_design or 0))

"""Evidence packs asked for in the browser: generated in the background, then downloaded."""

from django.conf import settings
from django.db import models


class EvidencePack(models.Model):
    """One evidence pack (audit.reports.evidence): who asked for which period, how far its
    generation got, and the file and manifest it wrote."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Being written"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    since = models.DateTimeField()
    until = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    # The member being written, and how many of the members are done.
    step = models.CharField(max_length=40, blank=True)
    done = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = "evidence pack"

    def __str__(self):
        return f"Evidence pack {self.pk}"

    @property
    def days(self) -> str:
        """'2026-12-01 to 2026-12-07 (UTC)' for whole days in the display time zone, else ""."""
        from datetime import timedelta

        from django.utils import timezone

        start, end = timezone.localtime(self.since), timezone.localtime(self.until)
        if start.time() != end.time() or start.time().hour or start.time().minute:
            return ""
        last = (end - timedelta(days=1)).date()
        return f"{start.date()} to {last} ({start.tzname()})"

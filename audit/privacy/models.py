"""Erasure requests: one admin or data protection officer asks, another carries it out."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

ERASURE_EXPIRY = timedelta(days=7)


class ErasureRequestQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=ErasureRequest.Status.PENDING)


class ErasureRequest(models.Model):
    """A data subject's request to erase one conversation: asked by one person with the
    permission to erase, carried out by a second (never the same)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second person"
        ERASED = "erased", "Erased"
        DECLINED = "declined", "Declined"
        REFUSED = "refused", "Refused (legal hold)"
        EXPIRED = "expired", "Expired"

    conversation_id = models.CharField("conversation", max_length=128)
    reference = models.CharField(
        "request reference",
        max_length=100,
        blank=True,
        help_text="The data subject's request, as your DPO tracks it (ticket, letter, case).",
    )
    reason = models.CharField(max_length=300, help_text="Why: the request and its grounds.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.CharField(max_length=300, blank=True)
    counts = models.JSONField(
        default=dict, blank=True, help_text="What the erasure touched, per place."
    )

    objects = ErasureRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = "erasure request"

    def __str__(self):
        return f"Erasure of conversation {self.conversation_id} ({self.get_status_display()})"

    @property
    def expires_at(self):
        return self.requested_at + ERASURE_EXPIRY

    def audit_snapshot(self) -> dict:
        name = lambda user: user.get_username() if user is not None else None  # noqa: E731
        return {
            "conversation_id": self.conversation_id,
            "reference": self.reference,
            "reason": self.reason,
            "requested_by": name(self.requested_by),
            "status": self.status,
            "decided_by": name(self.decided_by),
            "comment": self.comment,
            "counts": self.counts,
        }

"""What an officer's decision (or a rule's) records, shared by insights and knowledge answers."""

from django.conf import settings
from django.db import models


class ReviewQuerySet(models.QuerySet):
    """The review states by name, for insights and knowledge answers alike. A knowledge
    query no agent saw (a console or warming query, a failure) has no review status: it is
    not in the queue at all."""

    def for_review(self):
        return self.exclude(review_status="")

    def pending(self):
        return self.filter(review_status=Reviewable.ReviewStatus.PENDING)

    def decided(self):
        return self.for_review().exclude(review_status=Reviewable.ReviewStatus.PENDING)

    def unfiltered(self):
        """What no rule recorded as filtered (pending, or decided by a person or rule)."""
        return self.exclude(review_status=Reviewable.ReviewStatus.FILTERED)

    def in_status(self, status: str):
        """One review status, or every item for review with "all"."""
        return self.for_review() if status == "all" else self.filter(review_status=status)


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

"""What the review workspace keeps: saved views, how officers share the work, and when an
officer first opened an item (the start of their decision time)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class SavedView(models.Model):
    """A review queue's filters and sort, under a name: an officer's own, or published by a
    governance admin for everyone."""

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    published = models.BooleanField(
        default=False, help_text="Published views are listed for every officer."
    )
    query = models.CharField(
        max_length=1000, help_text="The review page's address parameters: filters and sort."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_per_owner")
        ]

    def __str__(self):
        return self.name

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "owner": self.owner.get_username() if self.owner_id else None,
            "published": self.published,
            "query": self.query,
        }


class WorkspaceSettings(models.Model):
    """How officers share the work (one row): claims' size and length, assignments' length."""

    claim_size = models.PositiveSmallIntegerField(
        "items per claim",
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text="How many items 'Claim next' takes.",
    )
    claim_minutes = models.PositiveSmallIntegerField(
        "claim length (minutes)",
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(480)],
        help_text="A claim not decided by then is free again.",
    )
    assignment_hours = models.PositiveSmallIntegerField(
        "assignment length (hours)",
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(72)],
        help_text="How long items a lead assigns stay with the officer.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "workspace settings"
        verbose_name_plural = "workspace settings"
        permissions = [("assign_items", "Can assign review items to officers")]

    def __str__(self):
        return "Workspace settings"

    @classmethod
    def current(cls) -> "WorkspaceSettings":
        return cls.objects.get_or_create(pk=1)[0]

    def audit_snapshot(self) -> dict:
        return {
            "claim_size": self.claim_size,
            "claim_minutes": self.claim_minutes,
            "assignment_hours": self.assignment_hours,
        }


class ItemOpening(models.Model):
    """When an officer first opened an item: the start of their decision time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12)
    item_id = models.BigIntegerField()
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "item_id", "user"], name="opening_once")
        ]

    def __str__(self):
        return f"{self.user} opened {self.kind} {self.item_id} at {self.opened_at}"

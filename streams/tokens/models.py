"""Bearer tokens for the JSON API (agent desktops)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models

from streams.config.models import NAME_VALIDATOR


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

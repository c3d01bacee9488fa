"""What is kept about people: their own settings (the time zone they read times in) and their
standing grant at the identity provider (for single sign-on between sign-ins)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone


class SsoGrant(models.Model):
    """A person's standing grant at the identity provider (its refresh token, encrypted with
    FIELD_ENCRYPTION_KEY), through which their roles are checked on a schedule between
    sign-ins (audit.people.sso)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_grant"
    )
    refresh_token = models.TextField(help_text="Encrypted.")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on grant"

    def __str__(self):
        return f"Single sign-on grant of {self.user}"


def time_zone_choices() -> list[tuple[str, str]]:
    import zoneinfo

    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class UserSettings(models.Model):
    """A person's own settings: the time zone their pages show times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_settings"
    )
    time_zone = models.CharField(
        max_length=64,
        choices=time_zone_choices,
        help_text="Times on pages, in messages and in the admin are shown in this zone. "
        "Downloads keep UTC (ISO 8601).",
    )

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self):
        return f"{self.user}: {self.time_zone}"

    @classmethod
    def time_zone_for(cls, user) -> str:
        row = cls.objects.filter(user=user).values_list("time_zone", flat=True).first()
        return row or settings.TIME_ZONE


class Person(get_user_model()):
    """A person as governance admins manage them: invited, their roles and whether they may
    sign in (four-eyes, streams.config.changes). Nobody sets another person's password: an
    invited person chooses theirs from their invitation link (or signs in through the
    identity provider, with single sign-on)."""

    class Meta:
        proxy = True
        verbose_name = "person"
        verbose_name_plural = "people"

    def __str__(self):
        return self.get_username()

    def save(self, *args, **kwargs):
        # Invited: no password until they choose one from their invitation link.
        if self._state.adding and not self.password:
            self.set_unusable_password()
        super().save(*args, **kwargs)

    @property
    def invited(self) -> bool:
        """Added, and waiting to choose a password: never signed in, none set."""
        return self.is_active and self.last_login is None and not self.has_usable_password()

    def audit_snapshot(self) -> dict:
        return {
            "username": self.get_username(),
            "name": self.get_full_name(),
            "email": self.email,
            "active": self.is_active,
            "roles": sorted(self.groups.values_list("name", flat=True)) if self.pk else [],
        }

"""Sign-in throttling (django-axes), as the audit trail and the people locked out see it."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from audit.services import Origin, audit_record


def client_address(request) -> str | None:
    """The connection's address (behind a proxy, daphne's --proxy-headers set it): never a
    header a client could write itself, or a lock-out could be dodged."""
    return request.META.get("REMOTE_ADDR")


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


@receiver(user_locked_out, dispatch_uid="audit-lockout")
def record_lockout(sender, *, request, username, ip_address, **kwargs):
    """One entry per lock-out: axes signals again for each try while locked, which is not
    a new lock-out (those carry no failure count)."""
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    audit_record(
        action="security.lockout",
        actor_label="sign-in throttling",
        object_type="auth.user",
        object_id=(username or "")[:64],
        object_repr=username or "(no user name)",
        after={
            "username": username,
            "client_address": ip_address,
            "failures": settings.AXES_FAILURE_LIMIT,
            "locked_for_minutes": lockout_minutes(),
            "page": request.path,
        },
        origin=Origin.from_request(request),
    )


@receiver(user_logged_out, dispatch_uid="release-claims-on-sign-out")
def release_claims(sender, *, request, user, **kwargs):
    """An officer who signs out leaves nothing held: their claims go back to the queue."""
    from audit.claims import claims_release

    if user is not None:
        claims_release(by=user, reason="signed out", origin=Origin.from_request(request))

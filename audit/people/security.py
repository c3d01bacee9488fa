"""Signing in and out as audit entries (PCI DSS 4.0 10.2.1): sign-in (with the method used),
sign-out, failed sign-in (the account's name, or for a name that is no account's only a keyed
hash, and the client's address; never the password or what was typed) and lock-out
(django-axes). Tries at a locked sign-in are counted per minute (audit.trail.denied)."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.people import signin
from audit.trail import denied
from audit.trail.record import Origin, audit_record


def client_address(request) -> str | None:
    """The connection's address (behind a proxy, daphne's --proxy-headers set it): never a
    header a client could write itself, or a lock-out could be dodged."""
    return request.META.get("REMOTE_ADDR")


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


@receiver(user_locked_out, dispatch_uid="audit-lockout")
def record_lockout(sender, *, request, username, ip_address, **kwargs):
    """One entry per lock-out: of a name from an address at the failure limit, of an address
    for every name at its budget. axes signals again for each try while locked, which is
    not a new lock-out (those carry no failure count)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures == settings.LOGIN_ADDRESS_FAILURE_LIMIT != settings.AXES_FAILURE_LIMIT:
        scope = "every user name from this address"
    elif failures == settings.AXES_FAILURE_LIMIT:
        scope = "this user name from this address"
    else:
        return
    audit_record(
        action="security.lockout",
        actor_label="sign-in throttling",
        **_name_object(username),
        after={
            **_name_fields(username),
            "client_address": ip_address,
            "failures": failures,
            "locked": scope,
            "locked_for_minutes": lockout_minutes(),
            "page": request.path,
        },
        origin=Origin.from_request(request),
    )


def _name_object(lockout_name: str) -> dict:
    """The object of a throttling entry: the account, or an unknown name by its hash."""
    if lockout_name.startswith(signin.UNKNOWN_PREFIX):
        digest = lockout_name.removeprefix(signin.UNKNOWN_PREFIX)
        return {
            "object_type": "auth.user",
            "object_id": "",
            "object_repr": f"unknown name {digest[:12]}",
        }
    return _user_object(lockout_name)


def _name_fields(lockout_name: str) -> dict:
    """A name as the trail keeps it: an account's name, or only whether it exists and the
    keyed hash of what was typed (audit.people.signin)."""
    if lockout_name.startswith(signin.UNKNOWN_PREFIX):
        return {"name_exists": False, "name_hash": lockout_name.removeprefix(signin.UNKNOWN_PREFIX)}
    return {"name_exists": True, "username": lockout_name}


def _user_object(username: str) -> dict:
    username = (username or "")[:150]
    return {
        "object_type": "auth.user",
        "object_id": username[:64],
        "object_repr": username or "(no user name)",
    }


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def record_sign_in(sender, *, request, user, **kwargs):
    audit_record(
        action="security.sign_in",
        actor=user,
        **_user_object(user.get_username()),
        after={
            "client_address": client_address(request) if request else None,
            "method": signin.method_of(user),
        },
        origin=Origin.from_request(request),
    )


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def record_sign_out(sender, *, request, user, **kwargs):
    if user is None:  # the session had already ended: nobody was signed in
        return
    audit_record(
        action="security.sign_out",
        actor=user,
        **_user_object(user.get_username()),
        origin=Origin.from_request(request),
    )


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def record_sign_in_failed(sender, *, credentials, request=None, **kwargs):
    """`credentials` holds what was tried: only the name's reading is kept (an account's
    name, or whether it exists and a keyed hash), never the password or the typed text."""
    already_locked = getattr(request, "axes_failures_since_start", None) is None
    if request is not None and getattr(request, "axes_locked_out", False) and already_locked:
        # Tries at a locked sign-in are a flood's shape: counted in the minute's summary.
        denied.tally(
            source=client_address(request), what="sign-ins while locked out", where=request.path
        )
        return
    name = signin.lockout_name(credentials.get("username"))
    audit_record(
        action="security.sign_in_failed",
        actor_label="sign-in",
        **_name_object(name),
        after={
            **_name_fields(name),
            "client_address": client_address(request) if request else None,
        },
        origin=Origin.from_request(request),
    )

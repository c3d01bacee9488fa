"""Signing in with a local password, and throttling it, on one reading of a user name.

What is typed is normalised once (Unicode NFKC, surrounding spaces trimmed, case-folded) and
names one account, matched without regard to case; the password check, the lock-out key
(django-axes) and the audit entry all use that reading, so `ADMIN2 ` and `admin2` are one
name to all three. A name that matches no account is kept only as a keyed hash: people type
passwords into the user name box, and neither the trail nor the throttling tables may keep
them.

Lock-outs are per name and address (LOGIN_FAILURE_LIMIT in LOGIN_LOCKOUT_MINUTES); beyond
that, one address that fails LOGIN_ADDRESS_FAILURE_LIMIT times across all names is locked
out for every name, so it cannot spray a few passwords over each of them."""

import hashlib
import hmac
import unicodedata

from allauth.account.auth_backends import AuthenticationBackend
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt, AccessBase
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Sum
from django.utils import timezone

UNKNOWN_PREFIX = "unknown:"
NAME_AND_ADDRESS = [["username", "ip_address"]]
SSO_BACKEND = "audit.people.signin.SingleSignOnBackend"


def canonical(typed) -> str:
    """The one reading of a typed user name."""
    return unicodedata.normalize("NFKC", str(typed or "")).strip().casefold()


def account(typed):
    """The one account the name names (None when none or several do)."""
    name = canonical(typed)
    if not name:
        return None
    matches = list(get_user_model().objects.filter(username__iexact=name)[:2])
    return matches[0] if len(matches) == 1 else None


def name_hash(typed) -> str:
    """A keyed hash of a name that names no account: the same typed name gives the same
    hash (so it can be throttled and counted), and the text cannot be read back."""
    key = f"sign-in-name:{settings.SECRET_KEY}".encode()
    return hmac.new(key, canonical(typed).encode(), hashlib.sha256).hexdigest()[:32]


def lockout_name(typed) -> str:
    """What sign-in throttling keys on: the account's name, or the hash of one unknown."""
    user = account(typed)
    return user.get_username() if user is not None else UNKNOWN_PREFIX + name_hash(typed)


def axes_username(request, credentials) -> str:
    """(AXES_USERNAME_CALLABLE) Both login pages post `username`."""
    if credentials and "username" in credentials:
        typed = credentials["username"]
    else:
        typed = getattr(request, "POST", {}).get("username", "")
    return lockout_name(typed)


def failures_from(address: str | None) -> int:
    """Failed sign-ins from `address` across every name, within the cool-off time."""
    if not address:
        return 0
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def lockout_parameters(request_or_attempt, credentials=None) -> list:
    """(AXES_LOCKOUT_PARAMETERS) Name and address; and the address alone, for every name,
    once it has used its budget of failures across names."""
    if isinstance(request_or_attempt, AccessBase):
        return NAME_AND_ADDRESS
    address = getattr(request_or_attempt, "axes_ip_address", None)
    address = address or get_client_ip_address(request_or_attempt)
    if failures_from(address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        return [*NAME_AND_ADDRESS, "ip_address"]
    return NAME_AND_ADDRESS


class NormalisedModelBackend(ModelBackend):
    """Django's password check, on the account the normalised name names."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = account(username)
        if user is None:
            get_user_model()().set_password(password)  # the same time as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class SingleSignOnBackend(AuthenticationBackend):
    """allauth's backend, for single sign-on only: passwords are checked by
    NormalisedModelBackend alone, so a sign-in's method is known from its backend."""

    def authenticate(self, request, **credentials):
        return None


def method_of(user) -> str:
    return "single sign-on" if getattr(user, "backend", "") == SSO_BACKEND else "password"

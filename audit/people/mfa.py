"""A second factor for local passwords: a TOTP authenticator app (django-allauth's MFA keeps
the authenticator, its secret encrypted with FIELD_ENCRYPTION_KEY, and checks the codes).

Whoever has one set up is asked for a code after their password, on whichever login page
they used: until they give it, every page leads to the code page, JSON says so and the review
socket refuses them. Governance admins who sign in with a local password must set one up
(MFA_REQUIRED_FOR_ADMINS) before anything else. Single sign-on leaves the second factor to
the identity provider."""

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, validate_totp_code
from allauth.mfa.utils import encrypt
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode

from assistgov.errors import wants_json
from audit.people.middleware import BothWaysMiddleware
from audit.people.roles import ADMINS
from streams import crypto

# The session's mark that the code was given (cleared at each sign-in).
PASSED = "second_factor_passed"
WRONG = "second_factor_wrong"
MAX_WRONG = 5
# What a person half-way through signing in may still open.
OPEN_WHILE_PENDING = frozenset({"login-code", "logout", "login"})
OPEN_WHILE_ENROLLING = frozenset({"two-step", "logout", "login", "login-code"})


class EncryptingMfaAdapter(DefaultMFAAdapter):
    """TOTP secrets are stored encrypted, as Genesys client secrets are."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)


@receiver(user_logged_in, dispatch_uid="second-factor-reset")
def reset_on_sign_in(sender, *, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session.pop(PASSED, None)
        request.session.pop(WRONG, None)


def authenticator(user) -> Authenticator | None:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()


def by_password(session) -> bool:
    """Signed in with a local password (not through the identity provider)."""
    from audit.people.signin import SSO_BACKEND

    return session.get(BACKEND_SESSION_KEY) not in (None, SSO_BACKEND)


def pending(request) -> bool:
    """Signed in with a password, with an authenticator, and no code given yet."""
    return pending_for(request.user, request.session)


def pending_for(user, session) -> bool:
    return (
        user.is_authenticated
        and by_password(session)
        and not session.get(PASSED)
        and authenticator(user) is not None
    )


def half_signed_in(user, session) -> bool:
    """(The review socket.) A code still owed, or a governance admin's set-up still due."""
    return pending_for(user, session) or must_enroll(user, session)


def must_enroll(user, session) -> bool:
    """A governance admin signed in with a password and no authenticator set up."""
    return (
        settings.MFA_REQUIRED_FOR_ADMINS
        and user.is_authenticated
        and by_password(session)
        and user.groups.filter(name=ADMINS).exists()
        and authenticator(user) is None
    )


def settings_require(user) -> bool:
    """Whether this person must keep a second factor (a governance admin, when required)."""
    return settings.MFA_REQUIRED_FOR_ADMINS and user.groups.filter(name=ADMINS).exists()


def check_code(request, code: str) -> bool:
    """The person's code: True marks the session as passed; five wrong ones end it."""
    found = authenticator(request.user)
    code = "".join((code or "").split())
    if found is not None and code.isdigit() and TOTP(found).validate_code(code):
        request.session[PASSED] = True
        request.session.pop(WRONG, None)
        return True
    request.session[WRONG] = request.session.get(WRONG, 0) + 1
    return False


def new_secret() -> str:
    return generate_totp_secret()


def enroll(user, secret: str, code: str) -> bool:
    """Set up the authenticator whose secret the person's app now holds, proven by a code."""
    code = "".join((code or "").split())
    if not (code.isdigit() and validate_totp_code(secret, code)):
        return False
    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(secret)}
    )
    return True


class SecondFactorMiddleware(BothWaysMiddleware):
    """Until the code is given (or, for a governance admin, an authenticator is set up), a
    password alone opens nothing but the code (or set-up) page."""

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._check(request) or self.get_response(request)

    async def _acall(self, request):
        from asgiref.sync import sync_to_async

        refused = await sync_to_async(self._check)(request)
        return refused or await self.get_response(request)

    def _check(self, request):
        if not request.user.is_authenticated or request.path.startswith(settings.STATIC_URL):
            return None
        name = _url_name(request)
        if pending(request):
            if name in OPEN_WHILE_PENDING:
                return None
            return _redirect(request, "login-code", "Give the code from your authenticator app.")
        if must_enroll(request.user, request.session):
            if name in OPEN_WHILE_ENROLLING:
                return None
            return _redirect(
                request,
                "two-step",
                "Governance admins who sign in with a password need a second factor: set up "
                "an authenticator app first.",
            )
        return None


def _url_name(request) -> str:
    try:
        return resolve(request.path_info).url_name or ""
    except Resolver404:
        return ""


def _redirect(request, name: str, words: str):
    url = reverse(name)
    if wants_json(request):
        return JsonResponse({"error": {"message": words, "url": url}}, status=401)
    return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path()})}")

"""How long a signed-in session lasts: it ends after SESSION_IDLE_MINUTES without the person
doing anything (default 30) and SESSION_MAX_HOURS after signing in (default 12), whatever
they do. Both apply to pages, the JSON the pages call, and the review page's socket.

A page's own background calls (the team's progress, stream health) are not activity: an
open tab left alone must still end. What the person does over the review socket (deciding,
claiming, paging) is."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import urlencode

from assistgov.errors import wants_json
from audit.people.middleware import BothWaysMiddleware

logger = logging.getLogger(__name__)


SIGNED_IN_AT, SEEN_AT = "signed_in_at", "seen_at"


# Calls a page makes by itself: they keep nothing alive.
BACKGROUND = frozenset({"review-progress", "dashboard-health"})
# Activity is written to the session at most this often (each write is a database write).
TOUCH_EVERY = timedelta(seconds=60)


@receiver(user_logged_in, dispatch_uid="session-signed-in-at")
def mark_sign_in(sender, *, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = timezone.now().timestamp()
        request.session[SIGNED_IN_AT] = now
        request.session[SEEN_AT] = now


def ended(session, now=None) -> str:
    """Why the session has ended, as a code of ENDED_WORDS ("" while it lasts)."""
    now = (now or timezone.now()).timestamp()
    started = session.get(SIGNED_IN_AT)
    seen = session.get(SEEN_AT, started)
    if started is None:
        return "unknown"
    if now - started > settings.SESSION_MAX_HOURS * 3600:
        return "lifetime"
    if now - seen > settings.SESSION_IDLE_MINUTES * 60:
        return "idle"
    return ""


def ended_words(code: str) -> str:
    """Why a session ended, for the person it belonged to."""
    if code == "lifetime":
        return f"it is more than {settings.SESSION_MAX_HOURS:g} hours since you signed in"
    if code == "idle":
        return f"nothing was done for {settings.SESSION_IDLE_MINUTES:g} minutes"
    if code == "signed-out":
        return "you signed out, or an administrator ended your sessions"
    return "it began before sessions had limits"


def touch(session, now=None) -> bool:
    """Note activity; True when the session changed (and must be saved)."""
    now = (now or timezone.now()).timestamp()
    if now - session.get(SEEN_AT, 0) < TOUCH_EVERY.total_seconds():
        return False
    session[SEEN_AT] = now
    return True


def socket_session(scope, *, active: bool) -> str:
    """(For a socket, in a thread.) Why its session no longer lets it in, as `ended` names
    it or "signed-out" ("" while it does); with `active`, note what the person did.

    The session is read as stored now, not as the socket opened with: another tab may have
    signed out, and an admin may have ended the person's sessions since."""
    from django.contrib import auth
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    opened = scope.get("session")
    user = scope.get("user")
    if opened is None or opened.session_key is None or user is None:
        return "signed-out"
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(
        session_key=opened.session_key
    )
    current = auth.get_user(_SessionOnly(store))  # the session hash and activity checked
    if not current.is_authenticated or current.pk != user.pk:
        return "signed-out"
    why = ended(store)
    if why:
        store.flush()
        return why
    if active and touch(store):
        store.save()
    return ""


class _SessionOnly:
    """What `django.contrib.auth.get_user` reads of a request."""

    def __init__(self, session):
        self.session = session


def _background(request) -> bool:
    try:
        return resolve(request.path_info).url_name in BACKGROUND
    except Resolver404:
        return False


class SessionLifetimeMiddleware(BothWaysMiddleware):
    """Signs out a session that has ended, and says why; notes activity otherwise."""

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._ended(request) or self.get_response(request)

    async def _acall(self, request):
        from asgiref.sync import sync_to_async

        ended_response = await sync_to_async(self._ended)(request)
        return ended_response or await self.get_response(request)

    def _ended(self, request):
        if not request.user.is_authenticated:
            return None
        why = ended(request.session)
        if not why:
            if not _background(request):
                touch(request.session)
            return None
        username = request.user.get_username()
        logout(request)
        logger.info("session of %s ended: %s", username, ended_words(why))
        if wants_json(request):
            message = f"Your session ended because {ended_words(why)}: sign in again."
            return JsonResponse({"error": {"message": message}}, status=401)
        query = urlencode({"next": request.get_full_path(), "ended": why})
        return HttpResponseRedirect(f"{reverse('login')}?{query}")

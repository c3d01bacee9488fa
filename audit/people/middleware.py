"""Gives each request an id (from X-Request-ID when a proxy set one) for logs and audit."""

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.utils import timezone
from django.utils.cache import patch_cache_control

from streams.context import request_id

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class BothWaysMiddleware:
    """Sync- and async-capable, so that async views (the knowledge console and API) are not
    funnelled through Django's single thread for sync middleware."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class RequestContextMiddleware(BothWaysMiddleware):
    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        return self._end(request, response)

    async def _acall(self, request):
        token = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        return self._end(request, response)

    def _begin(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        return request_id.set(request.request_id)

    def _end(self, request, response):
        response["X-Request-ID"] = request.request_id
        return response


SESSION_TIME_ZONE = "time_zone"


def user_time_zone(session, user) -> str:
    """The signed-in user's time zone, read once per session (the account page updates it)."""
    from audit.people.models import UserSettings

    name = session.get(SESSION_TIME_ZONE)
    if name is None:
        name = UserSettings.time_zone_for(user)
        session[SESSION_TIME_ZONE] = name
    return name


class UserTimeZoneMiddleware(BothWaysMiddleware):
    """Shows times in the signed-in user's zone (pages, messages, the admin)."""

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        if not request.user.is_authenticated:
            return self.get_response(request)
        with timezone.override(user_time_zone(request.session, request.user)):
            return self.get_response(request)

    async def _acall(self, request):
        user = await request.auser()
        if not user.is_authenticated:
            return await self.get_response(request)
        name = await sync_to_async(user_time_zone)(request.session, user)
        with timezone.override(name):
            return await self.get_response(request)


# What a browser or a proxy must never keep a copy of: data answers and downloads.
NO_STORE_TYPES = ("application/json", "text/csv", "application/x-ndjson", "application/zip")


class NoStoreMiddleware(BothWaysMiddleware):
    """`Cache-Control: no-store` on every JSON answer, export and download: they hold what
    only the person who asked may see, and a shared machine's cache must not keep it."""

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._marked(self.get_response(request))

    async def _acall(self, request):
        return self._marked(await self.get_response(request))

    @staticmethod
    def _marked(response):
        kind = response.get("Content-Type", "")
        if kind.startswith(NO_STORE_TYPES) or response.has_header("Content-Disposition"):
            patch_cache_control(response, no_store=True, private=True)
        return response

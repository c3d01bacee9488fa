"""Gives each request an id (from X-Request-ID when a proxy set one) for logs and audit."""

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from streams.context import request_id

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    # Async-capable, so that async views (the knowledge console and API) are not funnelled
    # through Django's single thread for sync middleware.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

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

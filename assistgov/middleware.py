"""WhiteNoise for an async request path.

WhiteNoise's middleware is sync-only. One sync-only middleware makes Django run every async
view behind it through a single shared thread, one request at a time: a knowledge query
waiting on Genesys would hold up every other request. This adapter keeps the chain async
and touches the disk only for static files, in a worker thread.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware

from audit.people.middleware import BothWaysMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    async def __call__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


class MethodNotAllowedMiddleware(BothWaysMiddleware):
    """Django answers a request in a method a view does not take with an empty 405, which a
    browser shows as its own error: answer with the app's page (or JSON) instead."""

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._answer(request, self.get_response(request))

    async def _acall(self, request):
        response = await self.get_response(request)
        if self._bare(response):
            return await sync_to_async(self._answer)(request, response)
        return response

    @staticmethod
    def _bare(response) -> bool:
        return (
            response.status_code == 405
            and not getattr(response, "streaming", False)
            and not response.content
        )

    def _answer(self, request, response):
        if not self._bare(response):
            return response
        from assistgov.errors import method_not_allowed

        return method_not_allowed(request, response)

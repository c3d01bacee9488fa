"""Operational endpoints: liveness and readiness (for load balancers and orchestrators)."""

import asyncio
import hmac
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from streams import ports
from streams.metrics import exposition

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0


@require_GET
def healthz(request):
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _channel_layer_ok() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    await layer.send(channel, {"type": "readyz.ping"})
    await layer.receive(channel)


@require_GET
async def readyz(request):
    """The database and the channel layer answer: the process can do its work."""
    checks = {}
    for name, check in (
        ("database", sync_to_async(_database_ok)),
        ("channel_layer", _channel_layer_ok),
    ):
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await check()
            checks[name] = "ok"
        except Exception as exc:
            logger.warning("readyz: %s check failed: %s", name, exc)
            checks[name] = f"failed: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@require_GET
def metrics(request):
    """Prometheus text format: with METRICS_TOKEN set, only for "Authorization: Bearer <it>";
    without one, only when METRICS_PUBLIC says so."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            ports.governance().token_refused(
                where=request.path,
                reason="a wrong metrics token was sent" if sent else "no token was sent",
                request=request,
            )
            response = HttpResponse(
                "/metrics needs the bearer token: Authorization: Bearer <METRICS_TOKEN>",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not settings.METRICS_PUBLIC:
        return HttpResponse(
            "/metrics is closed: set METRICS_TOKEN (and scrape with it), or METRICS_PUBLIC=true.",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)

"""WebSockets are accepted only from the page's own origin: scheme, host and port exactly.

Channels' AllowedHostsOriginValidator compares host names only, so a page served from
another port or scheme of an allowed host (another app on the same name) could open the
review socket with the officer's cookie. As Django's CSRF check does for forms, an Origin
must equal the origin the request was made to, or be one of CSRF_TRUSTED_ORIGINS.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname, port


def page_scheme(scope: dict, headers: dict[bytes, bytes]) -> str:
    forwarded = headers.get(b"x-forwarded-proto", b"").decode("latin1").strip().lower()
    if settings.TRUST_X_FORWARDED_PROTO and forwarded == "https":
        return "https"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def same_origin(scope: dict) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin1").strip()
    host = headers.get(b"host", b"").decode("latin1").strip()
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    sent = urlsplit(origin)
    expected = _origin(page_scheme(scope, headers), host)
    return expected is not None and _origin(sent.scheme, sent.netloc) == expected


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

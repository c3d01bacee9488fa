"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets.

WebSockets are authenticated from the session and refused from other origins (scheme,
host and port: see assistgov.origins).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistgov.settings")
django_asgi_app = get_asgi_application()

# Consumers import models: Django must be set up first.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from assistgov.origins import SameOriginValidator  # noqa: E402
from audit.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

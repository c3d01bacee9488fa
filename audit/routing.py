"""Every WebSocket route of audit's packages."""

from audit.review.routing import websocket_urlpatterns

__all__ = ["websocket_urlpatterns"]

from django.urls import path

from audit.review.consumers import ReviewConsumer

websocket_urlpatterns = [
    path("ws/review/", ReviewConsumer.as_asgi(), name="ws-review"),
]

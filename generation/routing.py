from __future__ import annotations

from django.urls import path

from generation import consumers

websocket_urlpatterns = [
    path("ws/jobs/<int:pk>/", consumers.RenderJobConsumer.as_asgi()),
]

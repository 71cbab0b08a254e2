from __future__ import annotations

from django.urls import path

from storyboards import consumers

websocket_urlpatterns = [
    path("ws/projects/<int:pk>/", consumers.ProjectConsumer.as_asgi()),
]

from __future__ import annotations

from django.urls import path

from characters import consumers

websocket_urlpatterns = [
    path("ws/characters/<int:pk>/", consumers.CharacterConsumer.as_asgi()),
]

"""Websocket routes of every app, gathered in one place for the ASGI router."""

from __future__ import annotations

from characters.routing import websocket_urlpatterns as characters_ws
from generation.routing import websocket_urlpatterns as generation_ws
from storyboards.routing import websocket_urlpatterns as storyboards_ws

websocket_urlpatterns = [*generation_ws, *storyboards_ws, *characters_ws]

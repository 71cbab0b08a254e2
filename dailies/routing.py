"""Websocket routes of every app, gathered in one place for the ASGI router."""

from __future__ import annotations

websocket_urlpatterns: list = []

"""Puts the signed-in user's active team on the request as ``request.team``."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from accounts.models import Team

SESSION_KEY = "active_team_id"


def active_team_for(request: HttpRequest) -> Team | None:
    """The team chosen in the switcher, falling back to the user's personal team."""
    user = request.user
    if not user.is_authenticated:
        return None
    teams = Team.objects.filter(memberships__user=user).select_related("plan")
    chosen = request.session.get(SESSION_KEY)
    team = teams.filter(pk=chosen).first() if chosen else None
    return team or teams.order_by("-is_personal", "pk").first()


class ActiveTeamMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Looked up on first use; a view behind login_required reads it as a Team.
        request.team = cast(Team, SimpleLazyObject(lambda: active_team_for(request)))  # type: ignore[attr-defined]
        return self.get_response(request)

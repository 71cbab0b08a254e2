from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts import selectors
from billing import ledger


def active_team(request: HttpRequest) -> dict[str, Any]:
    """The header's team switcher and credits badge, on every page."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    team = getattr(request, "team", None)
    return {
        "active_team": team,
        "user_teams": selectors.team_list(user=request.user),
        "credits": ledger.balance(team) if team else None,
    }

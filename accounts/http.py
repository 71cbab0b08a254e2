"""The requests the studio's views receive, typed: htmx's details on every one (django-htmx's
middleware), and on a signed-in one the user and the active team (``ActiveTeamMiddleware``)."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import Team, User


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


class TeamRequest(HtmxRequest):
    """A request behind ``login_required``."""

    user: User
    team: Team

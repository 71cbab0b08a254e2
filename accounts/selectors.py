"""Reads scoped to what a user may see. Another team's object is a 404, never a 403."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiKey, Membership, Team, User


def team_list(*, user: User) -> QuerySet[Team]:
    return (
        Team.objects.filter(memberships__user=user)
        .select_related("plan")
        .order_by("-is_personal", "name", "pk")
    )


def team_get(*, user: User, team_id: int | str) -> Team:
    try:
        return team_list(user=user).get(pk=int(team_id))
    except (Team.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such team.") from exc


def membership_get(*, user: User, team: Team) -> Membership:
    """The user's own membership of a team they can see."""
    try:
        return Membership.objects.get(team=team, user=user)
    except Membership.DoesNotExist as exc:
        raise Http404("No such team.") from exc


def team_membership_get(*, team: Team, membership_id: int | str) -> Membership:
    try:
        return team.memberships.select_related("user").get(pk=int(membership_id))
    except (Membership.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such member.") from exc


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__email")


def api_key_list(*, team: Team) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(team=team).select_related("created_by")


def api_key_get(*, team: Team, key_id: int | str) -> ApiKey:
    try:
        return ApiKey.objects.select_related("team").get(team=team, pk=int(key_id))
    except (ApiKey.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such key.") from exc

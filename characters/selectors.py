"""Reads of characters, scoped to the user's teams: another team's character is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Team, User
from characters.models import Character, CharacterAdapter
from generation.models import RenderJob


def character_list(*, user: User, team: Team) -> QuerySet[Character]:
    return (
        Character.objects.filter(team=team, team__memberships__user=user)
        .select_related("current_adapter")
        .prefetch_related("references")
    )


def character_get(*, user: User, character_id: int | str) -> Character:
    try:
        return (
            Character.objects.select_related("team", "current_adapter")
            .prefetch_related("references")
            .get(pk=int(character_id), team__memberships__user=user)
        )
    except (Character.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such character.") from exc


def adapter_get(*, character: Character, adapter_id: int | str) -> CharacterAdapter:
    try:
        return character.adapters.select_related("reservation").get(pk=int(adapter_id))
    except (CharacterAdapter.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such adapter version.") from exc


def user_can_see_character(*, user: User, character_id: int) -> bool:
    return Character.objects.filter(pk=character_id, team__memberships__user=user).exists()


def character_takes(*, character: Character, limit: int = 50) -> list[RenderJob]:
    """The team's takes rendered with the character, newest first (a recipe lists the
    characters a take used)."""
    jobs = RenderJob.objects.filter(team=character.team_id, shot__isnull=False).select_related(
        "shot", "shot__project"
    )
    out = []
    for job in jobs.order_by("-created_at")[:2000]:
        if any(c.get("id") == character.pk for c in job.recipe.get("characters") or []):
            out.append(job)
            if len(out) >= limit:
                break
    return out

"""Reads of characters, scoped to the user's teams: another team's character is a 404."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
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


@dataclass(frozen=True)
class PickerEntry:
    """A character as the composer's picker offers it: usable when its current adapter is
    ready; ``latest`` is its newest version, whose training the picker shows live."""

    character: Character
    latest: CharacterAdapter | None

    @property
    def ready(self) -> bool:
        current = self.character.current_adapter
        return current is not None and current.state == CharacterAdapter.State.READY

    @property
    def training(self) -> bool:
        return self.latest is not None and self.latest.is_active

    @property
    def version_prefix(self) -> str:
        """A usable character's retraining is named by its version: renders still use the
        current one."""
        return f"v{self.latest.version} " if self.ready and self.latest else ""

    @property
    def note(self) -> str:
        """What the chip says beside the name: empty for a ready character with nothing
        training."""
        latest = self.latest
        if latest is None:
            return "" if self.ready else "no adapter"
        if latest.is_active:
            if latest.state == CharacterAdapter.State.QUEUED:
                return f"{self.version_prefix}queued"
            return f"{self.version_prefix}training — {latest.percent} %"
        if self.ready:
            return ""
        if latest.state == CharacterAdapter.State.FAILED:
            return "training failed"
        return "training cancelled"


def character_picker(*, team: Team) -> list[PickerEntry]:
    """The team's characters for the composer's picker, each with its newest adapter."""
    characters = Character.objects.filter(team=team).select_related("current_adapter")
    newest_first = CharacterAdapter.objects.order_by("-version")
    return [
        PickerEntry(character=c, latest=next(iter(c.adapters.all()), None))
        for c in characters.prefetch_related(Prefetch("adapters", queryset=newest_first))
    ]


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

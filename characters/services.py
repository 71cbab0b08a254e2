"""Locking characters, training and rolling back their adapters, and reading ``@Name`` in a
prompt: the only code that creates characters and adapters.

A lock creates the character, its references and its first adapter version in one
transaction holding the team's credit account: the plan's character allowance is checked and
the training's price reserved there, so a refused lock saves nothing and spends nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.models import Membership, Role
from billing import ledger, pricing
from billing.limits import PlanLimits
from characters import lifecycle, queue
from characters.models import (
    MAX_REFERENCES,
    NAME_PATTERN,
    Character,
    CharacterAdapter,
    CharacterReference,
)
from generation import runtime
from generation.models import Artifact, RenderJob
from generation.requests import MAX_CHARACTERS, CharacterLock, RenderRejected
from generation.uploads import Frame, frame_from_pixels
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

MENTION = re.compile(rf"(?<![\w@])@({NAME_PATTERN})\b")
# The smallest box around a figure, in pixels of the frame.
MIN_BOX = 8


class CharacterRejected(UserError):
    """A lock, retrain or rollback that cannot be done; nothing was saved or spent."""


class CharacterBusy(CharacterRejected):
    """A delete refused because a version of the character is queued or training."""


@dataclass(frozen=True)
class Box:
    """A figure's box in a frame's pixels."""

    x: int
    y: int
    w: int
    h: int


def _check_name(team: Team, name: str) -> str:
    name = name.strip().lstrip("@")
    if not re.fullmatch(NAME_PATTERN, name):
        raise CharacterRejected(
            "A name starts with a letter and has up to 40 letters, digits, “-” or “_” "
            "(it is what follows @ in a prompt).",
            field="name",
        )
    if Character.objects.filter(team=team, name__iexact=name).exists():
        raise CharacterRejected(f"Your team already has a character named {name}.", field="name")
    return name


def _reserve_training(character: Character, user: User | None) -> CharacterAdapter:
    """Reserve the training's price and queue a new adapter version (inside a transaction
    that holds the team's credit account)."""
    estimate = pricing.character_training_estimate()
    reservation = ledger.reserve(
        team=character.team, credits=estimate.credits, memo=f"Character training: {character.name}"
    )
    version = (character.adapters.aggregate(v=Max("version"))["v"] or 0) + 1
    adapter = CharacterAdapter.objects.create(
        character=character,
        version=version,
        requested_by=user,
        estimate_credits=estimate.credits,
        reservation=reservation,
    )
    transaction.on_commit(lambda: queue.adapter_enqueue(adapter))
    return adapter


def _lock(
    *, team: Team, user: User, name: str, description: str, frames: Sequence[Frame], origin: dict
) -> Character:
    name = _check_name(team, name)
    if not 1 <= len(frames) <= MAX_REFERENCES:
        raise CharacterRejected(
            f"Lock a character from 1 to {MAX_REFERENCES} reference images.", field="references"
        )
    pricing.character_training_estimate()  # no price book: refused before anything is saved
    with transaction.atomic():
        ledger.lock_account(team)
        refusal = PlanLimits.of(team).character_refusal(Character.objects.filter(team=team).count())
        if refusal:
            raise CharacterRejected(refusal, field="name")
        try:
            with transaction.atomic():
                character = Character.objects.create(
                    team=team, name=name, description=description.strip()[:200], created_by=user
                )
        except IntegrityError as exc:  # the same name, locked a moment ago
            raise CharacterRejected(
                f"Your team already has a character named {name}.", field="name"
            ) from exc
        _reserve_training(character, user)  # InsufficientCredits: nothing saved yet
        saved: list[CharacterReference] = []
        try:
            for i, frame in enumerate(frames):
                ref = CharacterReference(character=character, sha256=frame.sha256, **origin)
                ref.image.save(f"ref-{i + 1}.png", frame.as_file(), save=False)
                saved.append(ref)
                ref.save()
        except Exception:
            for ref in saved:
                ref.image.delete(save=False)
            raise
    return character


def character_lock_from_uploads(
    *, team: Team, user: User, name: str, images: Sequence[Frame], description: str = ""
) -> Character:
    """Lock a character from 1–8 reference images checked at the edge
    (``generation.uploads``). Raises :class:`CharacterRejected`, ``InsufficientCredits`` or
    ``PricingError``, each with nothing saved."""
    return _lock(team=team, user=user, name=name, description=description, frames=images, origin={})


def character_lock_from_take(
    *,
    team: Team,
    user: User,
    name: str,
    job: RenderJob,
    frame_index: int,
    box: Box,
    description: str = "",
) -> Character:
    """Lock a character from a box around the figure in frame ``frame_index`` of a finished
    take of the team."""
    if job.team_id != team.pk or job.state != RenderJob.State.SUCCEEDED:
        raise CharacterRejected("Choose a finished take of your team.", field="job")
    artifact = job.artifacts.filter(kind=Artifact.Kind.VIDEO).first()
    if artifact is None:
        raise CharacterRejected("That take has no video to take a frame from.", field="job")
    with artifact.file.open("rb") as fh:
        pixels, at = runtime.video_frame_at(fh, max(0, frame_index))  # (H, W, 3)
    height, width = pixels.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.w), min(height, box.y + box.h)
    if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
        raise CharacterRejected(
            f"Drag a box of at least {MIN_BOX} × {MIN_BOX} pixels around the figure, inside "
            f"the {width} × {height} frame.",
            field="box",
        )
    crop = frame_from_pixels(pixels[y0:y1, x0:x1], name=f"job-{job.pk}-frame-{at}.png")
    origin = {
        "source_job": job,
        "frame_index": at,
        "box": {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0},
    }
    return _lock(
        team=team, user=user, name=name, description=description, frames=[crop], origin=origin
    )


def adapter_retrain(*, character: Character, user: User) -> CharacterAdapter:
    """Train a new version on the character's references (the current one stays in use
    until the new one is ready)."""
    pricing.character_training_estimate()
    with transaction.atomic():
        ledger.lock_account(character.team)
        if character.adapters.filter(state__in=CharacterAdapter.ACTIVE).exists():
            raise CharacterRejected(f"{character.name} is already training.")
        return _reserve_training(character, user)


@transaction.atomic
def adapter_rollback(*, character: Character, adapter: CharacterAdapter) -> Character:
    """Point renders at an older ready version of the character's adapter."""
    if adapter.character_id != character.pk or adapter.state != CharacterAdapter.State.READY:
        raise CharacterRejected("Roll back to a ready version of this character.")
    Character.objects.filter(pk=character.pk).update(current_adapter=adapter)
    character.current_adapter = adapter
    return character


def adapter_cancel(*, adapter: CharacterAdapter) -> CharacterAdapter:
    return lifecycle.adapter_cancel(adapter=adapter)


def can_delete(*, character: Character, user: User) -> bool:
    """A character is deleted by whoever locked it or by the team's owners and admins."""
    if character.created_by_id is not None and character.created_by_id == user.pk:
        return True
    return Membership.objects.filter(
        team_id=character.team_id, user=user, role__in=[Role.OWNER, Role.ADMIN]
    ).exists()


def character_delete(*, character: Character, user: User) -> None:
    """Delete a character, its references and every adapter version, on disk too.

    Refused while a version is queued or training (cancel it first). The takes rendered with
    it keep their recipes as they were (adapter path, version and hash): what they were made
    with stays on record, and re-rendering one says the character is gone.
    """
    if not can_delete(character=character, user=user):
        raise CharacterRejected(
            f"Only whoever locked {character.name}, or the team's owners and admins, "
            "can delete them."
        )
    with transaction.atomic():
        ledger.lock_account(character.team)  # a retrain takes the same lock first
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.adapters.filter(state__in=CharacterAdapter.ACTIVE).exists():
            raise CharacterBusy(
                f"{character.name} is training: cancel the training, then delete them."
            )
        files = [r.image.name for r in character.references.all()]
        folder = lifecycle.character_folder(character)
        Character.objects.filter(pk=character.pk).update(current_adapter=None)
        character.adapters.all().delete()
        character.delete()
        transaction.on_commit(lambda: lifecycle.remove_character_files(folder, files))


def locks_check_present(locks: Sequence[CharacterLock]) -> None:
    """Refuse to render again from a recipe naming a character deleted since: its adapter
    went with it, and a take without it would not be the take asked for."""
    present = set(
        Character.objects.filter(pk__in=[lock.id for lock in locks]).values_list("pk", flat=True)
    )
    gone = [lock.name for lock in locks if lock.id not in present]
    if gone:
        names = " and ".join(f"@{name}" for name in gone)
        raise RenderRejected(
            f"This take was made with {names}, deleted since: it cannot be rendered again "
            "with them. Render the shot anew instead.",
            field="prompt",
        )


@transaction.atomic
def drift_threshold_set(*, team: Team, actor: User, threshold: float) -> Team:
    """The similarity below which a take is flagged as drifting from its character; set by
    the team's owners and admins."""
    if not Membership.objects.filter(
        team=team, user=actor, role__in=[Role.OWNER, Role.ADMIN]
    ).exists():
        raise PermissionDenied("Only a team's owners and admins set its drift threshold.")
    if not 0.0 <= threshold <= 1.0:
        raise CharacterRejected("The drift threshold is between 0 and 1.", field="threshold")
    team.drift_threshold = threshold
    team.save(update_fields=["drift_threshold"])
    return team


# --- using characters in a prompt -------------------------------------------------------------


def mentions(prompt: str) -> list[str]:
    """The ``@Name`` mentions of a prompt, in order, each once (case as written)."""
    seen: dict[str, str] = {}
    for match in MENTION.finditer(prompt):
        seen.setdefault(match.group(1).lower(), match.group(1))
    return list(seen.values())


def _as_lock(character: Character) -> CharacterLock:
    adapter = character.current_adapter
    if adapter is None or adapter.state != CharacterAdapter.State.READY:
        training = character.adapters.filter(state__in=CharacterAdapter.ACTIVE).exists()
        why = "is still training" if training else "has no trained adapter: retrain it"
        raise RenderRejected(f"@{character.name} {why}.", field="prompt")
    return CharacterLock(
        id=character.pk,
        name=character.name,
        adapter_path=adapter.path,
        version=adapter.version,
        sha256=adapter.sha256,
        references=tuple(r.image.name for r in character.references.all()),
    )


def characters_resolve(
    *, team: Team, prompt: str, picked: Sequence[int] = ()
) -> tuple[CharacterLock, ...]:
    """The team's locked characters a shot uses: each ``@Name`` in the prompt, then those
    picked in the composer. Another team's character is as unknown as a missing one.

    Raises:
        RenderRejected (field "prompt"): an unknown name, a character without a ready
            adapter, or more than two characters. Nothing is saved or spent.
    """
    names = mentions(prompt)
    found = {
        c.name.lower(): c
        for c in Character.objects.filter(team=team)
        .select_related("current_adapter")
        .prefetch_related("references")
    }
    unknown = [n for n in names if n.lower() not in found]
    if unknown:
        listed = ", ".join(f"@{n}" for n in unknown)
        raise RenderRejected(
            f"No character named {listed} in your team: lock one, or check the spelling.",
            field="prompt",
        )
    chosen = [found[n.lower()] for n in names]
    by_id = {c.pk: c for c in found.values()}
    for pk in picked:
        character = by_id.get(int(pk))
        if character is None:
            raise RenderRejected("Pick characters of your team.", field="characters")
        if character not in chosen:
            chosen.append(character)
    if len(chosen) > MAX_CHARACTERS:
        raise RenderRejected(
            f"A shot holds at most {MAX_CHARACTERS} locked characters.", field="prompt"
        )
    return tuple(_as_lock(c) for c in chosen)

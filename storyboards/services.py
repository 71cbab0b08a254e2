"""Writes for projects and shots. Renders go through ``generation.services`` (credits,
moderation, queueing); this module only decides what to ask for and keeps the timeline tidy."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from dailies import ledger
from dailies.models import Quality, Team, User
from generation import services as render
from generation.models import RenderJob
from storyboards.models import Project, Shot

SEED_SPACE = 2**31


def _touch(project: Project) -> None:
    """Any change to a project's shots is activity the dashboard shows."""
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())


# --- projects ---------------------------------------------------------------------------------


@transaction.atomic
def project_create(*, team: Team, user: User, name: str) -> Project:
    return Project.objects.create(team=team, name=name.strip(), created_by=user)


@transaction.atomic
def project_rename(*, project: Project, name: str) -> Project:
    project.name = name.strip()
    project.save(update_fields=["name", "updated_at"])
    return project


@transaction.atomic
def project_set_archived(*, project: Project, archived: bool) -> Project:
    project.archived = archived
    project.save(update_fields=["archived", "updated_at"])
    return project


# --- shots ------------------------------------------------------------------------------------


@transaction.atomic
def shot_create(*, project: Project, fields: dict[str, Any]) -> Shot:
    last = project.shots.aggregate(last=Max("position"))["last"]
    shot = Shot.objects.create(project=project, position=0 if last is None else last + 1, **fields)
    _touch(project)
    return shot


@transaction.atomic
def shot_update(*, shot: Shot, fields: dict[str, Any]) -> Shot:
    for name, value in fields.items():
        setattr(shot, name, value)
    shot.save()
    _touch(shot.project)
    return shot


@transaction.atomic
def shot_duplicate(*, shot: Shot) -> Shot:
    """A copy right after the original, with the same settings and no takes."""
    project = shot.project
    project.shots.filter(position__gt=shot.position).update(position=F("position") + 1)
    copy = Shot.objects.create(
        project=project,
        position=shot.position + 1,
        title=f"{shot.title} (copy)" if shot.title else "",
        prompt=shot.prompt,
        mode=shot.mode,
        camera=shot.camera,
        aspect=shot.aspect,
        duration_s=shot.duration_s,
        fps=shot.fps,
        resolution=shot.resolution,
        quality=shot.quality,
        seed=shot.seed,
        variants=shot.variants,
    )
    _touch(project)
    return copy


@transaction.atomic
def shot_delete(*, shot: Shot) -> None:
    """Delete a shot; its renders stay in the team's render history (the credits were real)."""
    project = shot.project
    shot.delete()
    _renumber(project)
    _touch(project)


def _renumber(project: Project, order: list[int] | None = None) -> None:
    ids = order or list(project.shots.order_by("position", "pk").values_list("pk", flat=True))
    for position, shot_id in enumerate(ids):
        Shot.objects.filter(pk=shot_id, project=project).update(position=position)


@transaction.atomic
def shots_reorder(*, project: Project, order: list[int]) -> None:
    """Put the project's shots in ``order`` (shot ids). Ids of other projects are ignored;
    shots the list leaves out keep their relative order after the named ones."""
    current = list(project.shots.order_by("position", "pk").values_list("pk", flat=True))
    named = [pk for pk in dict.fromkeys(order) if pk in set(current)]
    rest = [pk for pk in current if pk not in set(named)]
    _renumber(project, named + rest)
    _touch(project)


@transaction.atomic
def shot_move(*, shot: Shot, offset: int) -> None:
    """Move a shot ``offset`` places along the timeline (clamped at the ends)."""
    project = shot.project
    ids = list(project.shots.order_by("position", "pk").values_list("pk", flat=True))
    index = ids.index(shot.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    _renumber(project, ids)
    _touch(project)


@transaction.atomic
def shot_set_current(*, shot: Shot, job: RenderJob) -> Shot:
    if job.shot_id != shot.pk:
        raise ValueError("That take belongs to another shot.")
    shot.current_job = job
    shot.save(update_fields=["current_job", "updated_at"])
    return shot


# --- renders ----------------------------------------------------------------------------------


def shot_render(
    *,
    shot: Shot,
    user: User,
    request: render.RenderRequest,
    variants: int = 1,
    idempotency_key: str = "",
) -> list[RenderJob]:
    """Submit ``variants`` takes of a shot with seeds s, s+1, … and circle the first.

    Raises what ``render_job_submit`` raises, before any take is queued: the whole batch is
    priced against the balance first, so a batch never half-starts for lack of credits.
    """
    team = shot.project.team
    estimate = render.render_job_estimate(team=team, request=request)
    needed = estimate.credits * variants
    available = ledger.balance(team).available
    if needed > available:
        raise ledger.InsufficientCredits(needed=needed, available=available)
    base = request.seed if request.seed is not None else secrets.randbelow(SEED_SPACE)
    jobs = []
    for n in range(variants):
        take = replace(request, seed=(base + n) % SEED_SPACE)
        key = f"{idempotency_key}-{n}" if idempotency_key else ""
        jobs.append(
            render.render_job_submit(
                team=team, user=user, request=take, idempotency_key=key, shot_id=shot.pk
            )
        )
    with transaction.atomic():
        Shot.objects.filter(pk=shot.pk).update(current_job=jobs[0], updated_at=timezone.now())
        _touch(shot.project)
    shot.current_job = jobs[0]
    return jobs


def job_request(job: RenderJob, **overrides: Any) -> render.RenderRequest:
    """A take's frozen recipe as a new request: promote and re-roll start from it."""
    recipe = job.recipe
    fields = {
        "prompt": recipe["prompt"],
        "mode": recipe["mode"],
        "quality": recipe["quality"],
        "resolution": recipe["resolution"],
        "duration_s": recipe["duration_s"],
        "fps": recipe["fps"],
        "aspect": recipe["aspect"],
        "seed": recipe["seed"],
        "camera": recipe["camera"],
        "commercial": recipe.get("commercial", False),
        "source_job_id": recipe.get("source_job_id"),
        "strength": recipe.get("strength", 0.6),
    }
    if job.input_image:
        # Image to video: the same reference frame again.
        fields["image"] = File(job.input_image.open("rb"), name=Path(job.input_image.name).name)
    return render.RenderRequest(**(fields | overrides))


def shot_promote(*, shot: Shot, job: RenderJob, user: User, quality: str) -> RenderJob:
    """The same seed and settings at a higher quality."""
    if quality not in (Quality.STANDARD, Quality.PRO) or quality == job.quality:
        raise render.RenderRejected("Promote to Standard or Pro.", field="quality")
    return shot_render(shot=shot, user=user, request=job_request(job, quality=quality))[0]


def shot_reroll(*, shot: Shot, job: RenderJob, user: User) -> RenderJob:
    """The same settings with a new seed."""
    seed = (job.seed + 1 + secrets.randbelow(SEED_SPACE - 1)) % SEED_SPACE
    return shot_render(shot=shot, user=user, request=job_request(job, seed=seed))[0]

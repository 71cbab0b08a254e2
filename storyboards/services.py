"""Writes for projects and shots. Renders are quoted by ``generation.requests`` and
submitted by ``generation.services``; this module decides what to ask for, saves the shot
with its render in one transaction, and keeps the timeline tidy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Team, User
from generation import requests as render_requests
from generation import services as render_services
from generation.models import RenderJob
from generation.requests import RenderRejected, RenderRequest
from generation.uploads import frame_from_bytes
from generation.vocabulary import Mode, Quality
from storyboards.models import Project, Shot


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


def _save(project: Project, shot: Shot | None, fields: dict[str, Any]) -> Shot:
    return (
        shot_create(project=project, fields=fields)
        if shot is None
        else shot_update(shot=shot, fields=fields)
    )


def shot_render(
    *,
    project: Project,
    shot: Shot | None,
    user: User,
    request: RenderRequest,
    fields: dict[str, Any] | None = None,
    takes: int = 1,
    idempotency_key: str = "",
    callback_url: str = "",
) -> tuple[Shot, list[RenderJob]]:
    """Render ``takes`` takes of a shot (seeds s, s+1, …) and circle the first.

    With ``fields`` the composer's settings are saved into the shot (a new one when
    ``shot`` is None) in the same transaction as the submit: a render that is refused, for
    any reason, leaves the shot as it was. A replayed idempotency key returns the first
    submit's shot and takes, and saves nothing.

    Raises what ``generation.requests.quote`` and ``render_batch_submit`` raise: each a
    ``UserError``, with nothing saved and nothing charged.
    """
    team = project.team
    earlier = render_services.render_batch_find(
        team=team, idempotency_key=idempotency_key, request=request, takes=takes
    )
    if earlier is not None:
        return _shot_of(earlier.jobs[0], shot), earlier.jobs
    quote = render_requests.quote(team=team, request=request, takes=takes, user=user)
    with transaction.atomic():
        if fields is not None:
            shot = _save(project, shot, fields)
        if shot is None:
            raise ValueError("shot_render needs a shot or the fields of a new one")
        submitted = render_services.render_batch_submit(
            quote=quote,
            user=user,
            idempotency_key=idempotency_key,
            shot_id=shot.pk,
            callback_url=callback_url,
        )
        if submitted.replayed:
            # A concurrent submit with this key won the lock and saved its own shot.
            transaction.set_rollback(True)
        else:
            Shot.objects.filter(pk=shot.pk).update(
                current_job=submitted.jobs[0], updated_at=timezone.now()
            )
            _touch(project)
            shot.current_job = submitted.jobs[0]
    if submitted.replayed:
        return _shot_of(submitted.jobs[0], None), submitted.jobs
    return shot, submitted.jobs


def _shot_of(job: RenderJob, fallback: Shot | None) -> Shot:
    if job.shot_id is not None:
        return Shot.objects.select_related("project").get(pk=job.shot_id)
    if fallback is None:
        raise RenderRejected("That render no longer belongs to a shot.")
    return fallback


def job_request(job: RenderJob, **overrides: Any) -> RenderRequest:
    """A take's frozen request as a new one: promote and re-roll start from it."""
    recipe = job.recipe
    fields: dict[str, Any] = {
        "prompt": job.prompt,
        "mode": Mode(job.mode),
        "quality": Quality(job.quality),
        "resolution": job.resolution,
        "duration_s": job.duration_s,
        "fps": job.fps,
        "seed": job.seed,
        "camera": job.camera,
        "commercial": recipe.get("commercial", False),
        "source_job_id": job.source_job_id,
        "strength": recipe.get("strength", 0.6),
        "loop": recipe.get("loop", False),
    }
    # Image to video, start + end keyframes: the same frames again.
    for name, stored in (("image", job.input_image), ("end_image", job.input_end_image)):
        if stored:
            with stored.open("rb") as fh:
                fields[name] = frame_from_bytes(fh.read(), field=name, name=Path(stored.name).name)
    return RenderRequest(**(fields | overrides))


def shot_promote(
    *, shot: Shot, job: RenderJob, user: User, quality: str, idempotency_key: str = ""
) -> RenderJob:
    """The same seed and settings at a higher quality."""
    if quality not in (Quality.STANDARD, Quality.PRO) or quality == job.quality:
        raise RenderRejected("Promote to Standard or Pro.", field="quality")
    request = job_request(job, quality=Quality(quality))
    return shot_render(
        project=shot.project, shot=shot, user=user, request=request, idempotency_key=idempotency_key
    )[1][0]


def shot_reroll(*, shot: Shot, job: RenderJob, user: User, idempotency_key: str = "") -> RenderJob:
    """The same settings with a new seed (drawn at submit, so a replayed key asks for the
    same thing and gets the same take)."""
    request = job_request(job, seed=None)
    return shot_render(
        project=shot.project, shot=shot, user=user, request=request, idempotency_key=idempotency_key
    )[1][0]

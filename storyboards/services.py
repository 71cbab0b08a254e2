"""Writes for projects and shots. Renders are quoted by ``generation.requests`` and
submitted by ``generation.services``; this module decides what to ask for, saves the shot
with its render in one transaction, and keeps the timeline tidy."""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files import File
from django.db import transaction
from django.db.models import F, Max
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Team, User
from billing import ledger
from characters import services as characters
from generation import execution, leases, progress
from generation import requests as render_requests
from generation import services as render_services
from generation.models import RenderBatch, RenderJob
from generation.requests import CharacterLock, RenderRejected, RenderRequest
from generation.uploads import frame_from_bytes
from generation.vocabulary import Mode, Quality
from moderation import services as moderation
from storyboards import exports
from storyboards.exports import STEM
from storyboards.models import TRANSITION_S, Project, Shot, StoryboardExport, Transition
from storyboards.planning import ShotPlan, storyboard_plan, to_render
from studio.celery import app as celery_app
from studio.errors import UserError

log = logging.getLogger(__name__)


class StoryboardRejected(UserError):
    """A storyboard edit or render that cannot be done as asked; nothing was changed."""


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


def project_shots(project: Project) -> list[Shot]:
    return list(project.shots.select_related("current_job").order_by("position", "pk"))


def project_plan(project: Project) -> list[ShotPlan]:
    return storyboard_plan(project_shots(project))


def _remember_inputs(project: Project) -> None:
    """Before an edit: record the inputs of takes rendered before inputs were recorded, so
    the edit can make them stale."""
    for plan in project_plan(project):
        if plan.status == "current" and not plan.shot.rendered_inputs:
            Shot.objects.filter(pk=plan.shot.pk).update(rendered_inputs=plan.fingerprint)


@transaction.atomic
def shot_update(*, shot: Shot, fields: dict[str, Any]) -> Shot:
    """Save the shot's settings. Its take, and the takes of the shots that continue it, turn
    stale when what they were rendered from changed (see ``storyboards.planning``)."""
    _remember_inputs(shot.project)
    for name, value in fields.items():
        setattr(shot, name, value)
    shot.save(update_fields=[*fields, "updated_at"])
    _touch(shot.project)
    return shot


@transaction.atomic
def shot_set_transition(*, shot: Shot, transition: str, seconds: float | None = None) -> Shot:
    """How ``shot`` begins. A continuation (or a match cut) renders differently, so its take
    may turn stale; a cut or a crossfade changes only the edit."""
    if transition not in Transition.values:
        raise StoryboardRejected("Choose cut, crossfade, continue, match cut or auto.")
    shots = project_shots(shot.project)
    if shots and shots[0].pk == shot.pk and transition != Transition.CUT:
        raise StoryboardRejected("The first shot has no shot before it to come from.")
    fields = ["transition", "updated_at"]
    if seconds is not None:
        low, high = TRANSITION_S
        if not low <= seconds <= high:
            raise StoryboardRejected(f"A crossfade lasts {low:g} to {high:g} seconds.")
        index = [s.pk for s in shots].index(shot.pk)
        shortest = min(shot.duration_s, shots[index - 1].duration_s if index else shot.duration_s)
        if seconds > shortest / 2:
            raise StoryboardRejected(
                f"A crossfade may take at most half of the shorter shot ({shortest / 2:g} s)."
            )
        shot.transition_s = seconds
        fields.append("transition_s")
    _remember_inputs(shot.project)
    shot.transition = transition
    shot.save(update_fields=fields)
    _touch(shot.project)
    return shot


@transaction.atomic
def project_set_format(*, project: Project, aspect: str, fps: int) -> Project:
    """The storyboard's frame and rate, which the export conforms every shot to."""
    project.aspect, project.fps = aspect, fps
    project.save(update_fields=["aspect", "fps", "updated_at"])
    return project


@transaction.atomic
def shot_duplicate(*, shot: Shot) -> Shot:
    """A copy right after the original, with the same settings and no takes."""
    project = shot.project
    project.shots.filter(position__gt=shot.position).update(position=F("position") + 1)
    duplicate = Shot.objects.create(
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
        transition=shot.transition,
        transition_s=shot.transition_s,
    )
    duplicate.characters.set(shot.characters.all())
    _touch(project)
    return duplicate


@transaction.atomic
def shot_delete(*, shot: Shot) -> None:
    """Delete a shot; its renders stay in the team's render history (the credits were real)."""
    project = shot.project
    _remember_inputs(project)
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
    _remember_inputs(project)
    current = list(project.shots.order_by("position", "pk").values_list("pk", flat=True))
    named = [pk for pk in dict.fromkeys(order) if pk in set(current)]
    rest = [pk for pk in current if pk not in set(named)]
    _renumber(project, named + rest)
    _touch(project)


@transaction.atomic
def shot_move(*, shot: Shot, offset: int) -> None:
    """Move a shot ``offset`` places along the timeline (clamped at the ends)."""
    project = shot.project
    _remember_inputs(project)
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
    _remember_inputs(shot.project)
    shot.current_job = job
    shot.save(update_fields=["current_job", "updated_at"])
    # The creator chose this take for the shot as it stands; shots that continue it are
    # stale now (their source changed).
    _record_inputs(shot.project, {shot.pk})
    return shot


def _record_inputs(project: Project, shot_ids: set[int]) -> None:
    """After a submit: the takes of ``shot_ids`` were rendered from their inputs as they are."""
    for plan in project_plan(project):
        if plan.shot.pk in shot_ids:
            Shot.objects.filter(pk=plan.shot.pk).update(rendered_inputs=plan.fingerprint)


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
    picked: Sequence[int] | None = None,
) -> tuple[Shot, list[RenderJob]]:
    """Render ``takes`` takes of a shot (seeds s, s+1, …) and circle the first.

    With ``fields`` the composer's settings are saved into the shot (a new one when
    ``shot`` is None) in the same transaction as the submit: a render that is refused, for
    any reason, leaves the shot as it was. A replayed idempotency key returns the first
    submit's shot and takes, and saves nothing.

    The prompt's ``@Name`` mentions and the characters ``picked`` in the composer (saved on
    the shot with ``fields``) are resolved to the team's locked characters, unless the
    request already carries them (a re-roll or promote keeps its take's adapters).

    Raises what ``generation.requests.quote`` and ``render_batch_submit`` raise: each a
    ``UserError``, with nothing saved and nothing charged.
    """
    team = project.team
    earlier = render_services.render_batch_find(
        team=team, idempotency_key=idempotency_key, request=request, takes=takes
    )
    if earlier is not None:
        return _shot_of(earlier.jobs[0], shot), earlier.jobs
    if not request.characters:
        if picked is None and shot is not None and fields is None:
            picked = [c.pk for c in shot.characters.all()]
        locks = characters.characters_resolve(team=team, prompt=request.prompt, picked=picked or ())
        request = replace(request, characters=locks)
    if shot is not None:
        request = _as_storyboard_asks(shot, request, fields or {})
    quote = render_requests.quote(
        team=team, request=request, takes=takes, user=user, pending_source=True
    )
    with transaction.atomic():
        if fields is not None:
            shot = _save(project, shot, fields)
        if shot is None:
            raise ValueError("shot_render needs a shot or the fields of a new one")
        if fields is not None and picked is not None:
            shot.characters.set(picked)
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
            _record_inputs(project, {shot.pk})
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
        "characters": recipe_characters(recipe),
    }
    characters.locks_check_present(fields["characters"])
    # Image to video, start + end keyframes: the same frames again.
    for name, stored in (("image", job.input_image), ("end_image", job.input_end_image)):
        if stored:
            with stored.open("rb") as fh:
                fields[name] = frame_from_bytes(fh.read(), field=name, name=Path(stored.name).name)
    return RenderRequest(**(fields | overrides))


def recipe_characters(recipe: dict[str, Any]) -> tuple[CharacterLock, ...]:
    """The locked characters a take was rendered with, as its recipe froze them (the same
    adapter versions and hashes: a re-render reproduces it)."""
    return tuple(
        CharacterLock(
            id=int(c["id"]),
            name=str(c["name"]),
            adapter_path=str(c["path"]),
            version=int(c["version"]),
            sha256=str(c["sha256"]),
            references=tuple(c.get("references") or ()),
            scale=float(c.get("scale", 1.0)),
        )
        for c in recipe.get("characters") or []
    )


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


# --- the storyboard ---------------------------------------------------------------------------


def _as_storyboard_asks(
    shot: Shot, request: RenderRequest, fields: dict[str, Any]
) -> RenderRequest:
    """A text-to-video render of a shot as its boundary asks: a continuation extends the
    previous shot's circled take, a match cut takes the previous shot's camera."""
    if request.mode != Mode.TEXT:
        return request
    edited = copy.copy(shot)
    for name, value in fields.items():
        setattr(edited, name, value)
    shots = [edited if s.pk == shot.pk else s for s in project_shots(shot.project)]
    plans = storyboard_plan(shots)
    plan = next(p for p in plans if p.shot.pk == shot.pk)
    if plan.depends_on is not None:
        source = plans[plan.depends_on].shot.current_job_id
        if source is None:
            raise StoryboardRejected(
                f"Shot {plan.index + 1} continues shot {plan.index}, which has no take yet: "
                "render the storyboard to render both."
            )
        return replace(request, mode=Mode.EXTEND, source_job_id=source, camera=plan.camera)
    if plan.boundary is not None and plan.boundary.kind == Transition.MATCH_CUT:
        return replace(request, camera=plan.camera)
    return request


def storyboard_draft(shot: Shot, request: RenderRequest) -> tuple[RenderRequest, str]:
    """The composer's draft for a saved shot as its boundary will render it (the price of a
    continuation is an extension's), and a note that says so ("" when nothing changes)."""
    if request.mode != Mode.TEXT:
        return request, ""
    plans = project_plan(shot.project)
    plan = next((p for p in plans if p.shot.pk == shot.pk), None)
    if plan is None or plan.boundary is None:
        return request, ""
    if plan.depends_on is not None:
        source = plans[plan.depends_on].shot.current_job_id
        note = f"Continues shot {plan.index}: rendered as an extension of its circled take."
        return replace(request, mode=Mode.EXTEND, source_job_id=source), note
    if plan.boundary.kind == Transition.MATCH_CUT:
        camera = replace(plans[plan.index - 1].camera, aspect=request.camera.aspect)
        note = f"Match cut: rendered with shot {plan.index}’s camera."
        return replace(request, camera=camera), note
    return request, ""


def shot_request(plan: ShotPlan, *, source_job_id: int | None = None) -> RenderRequest:
    """What "Render storyboard" asks for a shot: its settings with the camera it renders
    with; a continuation extends ``source_job_id`` (the previous shot's take)."""
    shot = plan.shot
    locks = characters.characters_resolve(
        team=shot.project.team, prompt=shot.prompt, picked=[c.pk for c in shot.characters.all()]
    )
    base: dict[str, Any] = {
        "characters": locks,
        "prompt": shot.prompt,
        "quality": Quality(shot.quality),
        "resolution": shot.resolution,
        "duration_s": shot.duration_s,
        "fps": shot.fps,
        "seed": shot.seed,
        "camera": plan.camera,
    }
    if plan.depends_on is not None:
        return RenderRequest(mode=Mode.EXTEND, source_job_id=source_job_id, **base)
    if shot.mode == Mode.TEXT:
        return RenderRequest(mode=Mode.TEXT, **base)
    if shot.current_job is not None:  # its image or source clip again
        return job_request(shot.current_job, **base)
    raise StoryboardRejected(
        f"Shot {plan.index + 1} ({Mode(shot.mode).label.lower()}) needs its input: render it "
        "once from the composer."
    )


@dataclass(frozen=True)
class StoryboardEstimate:
    """What "Render storyboard" would do: the shots (1-based) it renders, and the price."""

    shots: list[int]
    credits: int
    available: int
    error: str = ""

    @property
    def count(self) -> int:
        return len(self.shots)

    @property
    def short(self) -> bool:
        return self.credits > self.available


def _upstream_source(plan: ShotPlan, plans: list[ShotPlan], rendering: set[int]) -> int | None:
    """The take a continuation starts from: None while its source is in this render too."""
    assert plan.depends_on is not None
    if plan.depends_on in rendering:
        return None
    return plans[plan.depends_on].shot.current_job_id


def storyboard_estimate(*, project: Project) -> StoryboardEstimate:
    """The count and the price of rendering the stale and never-rendered shots; the same
    quotes the render gets, as drafts. Nothing is reserved."""
    team = project.team
    plans = project_plan(project)
    todo = to_render(plans)
    rendering = {p.index for p in todo}
    available = ledger.balance(team).available
    numbers = [p.index + 1 for p in todo]
    credits = 0
    try:
        for plan in todo:
            source = (
                _upstream_source(plan, plans, rendering) if plan.depends_on is not None else None
            )
            quote = render_requests.quote(
                team=team, request=shot_request(plan, source_job_id=source), draft=True,
                pending_source=True,
            )  # fmt: skip
            credits += quote.credits
    except UserError as exc:
        return StoryboardEstimate(numbers, 0, available, error=_shot_error(plan, exc))
    return StoryboardEstimate(numbers, credits, available)


def _shot_error(plan: ShotPlan, exc: UserError) -> str:
    if isinstance(exc, StoryboardRejected):
        return exc.message
    return f"Shot {plan.index + 1}: {exc.message}"


def _replayed(team: Team, idempotency_key: str) -> list[RenderJob] | None:
    if not idempotency_key:
        return None
    batches = RenderBatch.objects.filter(
        team=team, idempotency_key__startswith=f"{idempotency_key}:"
    )
    jobs = [job for batch in batches.order_by("pk") for job in batch.jobs.order_by("take")]
    return jobs or None


def storyboard_render(
    *, project: Project, user: User, idempotency_key: str = ""
) -> list[RenderJob]:
    """Render exactly the stale, failed and never-rendered shots, in timeline order.

    Every take is quoted by ``generation.requests`` and submitted by
    ``generation.services`` inside one transaction under one lock of the team's credit
    account: all are reserved or none. A continuation is submitted as an extension of the
    take just submitted for the shot it continues; its worker waits for that take. A
    replayed ``idempotency_key`` returns the first submit's takes and charges nothing.

    Raises:
        StoryboardRejected: nothing to render, or a shot cannot be rendered from here.
        What ``quote`` and ``render_batch_submit`` raise (each a ``UserError``); in every
        case nothing was reserved and no shot changed.
    """
    team = project.team
    idempotency_key = idempotency_key[:40]
    earlier = _replayed(team, idempotency_key)
    if earlier is not None:
        return earlier
    plans = project_plan(project)
    todo = to_render(plans)
    if not todo:
        raise StoryboardRejected("Every shot has an up-to-date take: nothing to render.")
    rendering = {p.index for p in todo}
    # Quoted (and moderated) before the transaction, except continuations of shots in this
    # render, whose source exists only inside it: their prompts are moderated here.
    quotes: dict[int, render_requests.Quote] = {}
    for plan in todo:
        try:
            if plan.depends_on in rendering:
                moderation.check(team=team, user=user, text=plan.shot.prompt, source="prompt")
                continue
            source = (
                _upstream_source(plan, plans, rendering) if plan.depends_on is not None else None
            )
            quotes[plan.index] = render_requests.quote(
                team=team, request=shot_request(plan, source_job_id=source), user=user,
                pending_source=True,
            )  # fmt: skip
        except UserError as exc:
            raise StoryboardRejected(_shot_error(plan, exc)) from exc
    with transaction.atomic():
        ledger.lock_account(team)
        earlier = _replayed(team, idempotency_key)
        if earlier is not None:
            return earlier
        submitted: dict[int, RenderJob] = {}
        for plan in todo:
            quote = quotes.get(plan.index)
            if quote is None:
                assert plan.depends_on is not None
                request = shot_request(plan, source_job_id=submitted[plan.depends_on].pk)
                try:
                    quote = render_requests.quote(
                        team=team, request=request, user=user, pending_source=True
                    )
                except UserError as exc:
                    raise StoryboardRejected(_shot_error(plan, exc)) from exc
            key = f"{idempotency_key}:{plan.shot.pk}" if idempotency_key else ""
            job = render_services.render_batch_submit(
                quote=quote, user=user, idempotency_key=key, shot_id=plan.shot.pk
            ).jobs[0]
            submitted[plan.index] = job
            plan.shot.current_job = job
            Shot.objects.filter(pk=plan.shot.pk).update(current_job=job, updated_at=timezone.now())
        _record_inputs(project, {p.shot.pk for p in todo})
        _touch(project)
    return [submitted[p.index] for p in todo]


# --- export -----------------------------------------------------------------------------------

EXPORT_TASK = "storyboards.tasks.storyboard_export_run"
EXPORT_QUEUE = "default"


def _push_export(export: StoryboardExport) -> None:
    """Send the export's status partial to the project's page. Never raises: the page polls
    when the socket is down."""
    try:
        html = render_to_string("storyboards/_export_status.html", {"export": export, "oob": True})
        message = {"type": "job.update", "html": html, "job_id": None, "state": export.state}
        async_to_sync(get_channel_layer().group_send)(
            progress.project_group(export.project_id), message
        )
    except Exception:  # logged, not raised: see docstring
        log.exception("could not push progress of export %s", export.pk)


def storyboard_export_find(*, project: Project, idempotency_key: str) -> StoryboardExport | None:
    """The export an earlier request with this key made, or None for a new key. Keys are
    the team's, as a render's are.

    Raises:
        IdempotencyConflict: the key asked for another project's export.
    """
    if not idempotency_key:
        return None
    earlier = (
        StoryboardExport.objects.select_related("project")
        .filter(project__team_id=project.team_id, idempotency_key=idempotency_key)
        .first()
    )
    if earlier is not None and earlier.project_id != project.pk:
        raise render_services.IdempotencyConflict()
    return earlier


@transaction.atomic
def storyboard_export_request(
    *, project: Project, user: User, idempotency_key: str = ""
) -> StoryboardExport:
    """Queue an export of the storyboard as it stands (no credits move). With an
    ``idempotency_key`` used before, the export it made is returned and nothing is queued.

    Raises:
        ExportRejected: a shot has no finished take (nothing is queued).
        IdempotencyConflict: the key was used for another project's export.
    """
    if idempotency_key:
        # One request per key at a time: the second waits here, then finds the first's.
        Team.objects.select_for_update().filter(pk=project.team_id).first()
        earlier = storyboard_export_find(project=project, idempotency_key=idempotency_key)
        if earlier is not None:
            return earlier
    exports.export_shots(project)  # refuses here, before anything is queued
    export = StoryboardExport.objects.create(
        project=project, requested_by=user, idempotency_key=idempotency_key
    )
    transaction.on_commit(
        lambda: celery_app.send_task(EXPORT_TASK, args=(export.pk,), queue=EXPORT_QUEUE)
    )
    return export


def storyboard_exports_requeue_waiting() -> list[int]:
    """Send every queued export's task again: after an embedded Redis restart the broker is
    empty. Harmless when the messages are still there: an export runs from queued once,
    and a second delivery skips it."""
    waiting = list(
        StoryboardExport.objects.filter(state=StoryboardExport.State.QUEUED).values_list(
            "pk", flat=True
        )
    )
    for export_id in waiting:
        celery_app.send_task(EXPORT_TASK, args=(export_id,), queue=EXPORT_QUEUE)
    return waiting


def _export_update(export: StoryboardExport, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(export, name, value)
    StoryboardExport.objects.filter(pk=export.pk).update(**fields)
    _push_export(export)


def storyboard_export_execute(export_id: int) -> str:
    """Run one queued export to a final state; returns it ("skipped" when it was not queued:
    a re-delivered task). A failure tells the user a sentence and logs the exception."""
    with transaction.atomic():
        export = (
            StoryboardExport.objects.select_for_update()
            .select_related("project")
            .filter(pk=export_id)
            .first()
        )
        if export is None or export.state != StoryboardExport.State.QUEUED:
            return "skipped"
        export.state = StoryboardExport.State.RUNNING
        export.worker = execution.worker_name()
        export.save(update_fields=["state", "worker"])
    _push_export(export)
    last = [0.0]

    def report(percent: int, step: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - last[0] < 0.25:
            return
        last[0] = now
        _export_update(export, percent=min(99, percent), step=step[:80])

    try:
        with tempfile.TemporaryDirectory(prefix=f"export{export.pk}-") as tmp:
            files = exports.write_export(export.project, Path(tmp), progress=report)
            with transaction.atomic():
                for name in ("video", "timeline", "edl", "media", "recipes"):
                    path: Path = getattr(files, name)
                    ext = exports.FILE_TYPES[name][0]
                    with path.open("rb") as fh:
                        getattr(export, name).save(f"{STEM}.{ext}", File(fh), save=False)
                export.state = StoryboardExport.State.SUCCEEDED
                export.percent, export.step = 100, "Ready"
                export.duration_s = files.frames / files.fps
                export.finished_at = timezone.now()
                export.save()
    except UserError as exc:
        _export_fail(export, exc.message)
    except Exception:
        log.exception("export %s failed", export.pk)
        _export_fail(export, "The export failed on the worker; an administrator has the details.")
    else:
        _push_export(export)
    return export.state


def _export_lock(export_id: int) -> StoryboardExport:
    return StoryboardExport.objects.select_for_update().get(pk=export_id)


def _export_fail_lapsed(export: StoryboardExport) -> None:
    _export_fail(export, "The worker exporting this storyboard stopped: export it again.")


EXPORTS = leases.Lease(
    objects=StoryboardExport.objects,
    running=(StoryboardExport.State.RUNNING,),
    lock=_export_lock,
    # No requeue: an export never runs again. Its files were never stored; the page and the
    # API say to export again.
    fail=_export_fail_lapsed,
    log=log,
    said="reaper: failed exports %(failed)s, their worker is gone",
)


def storyboard_exports_reap() -> list[int]:
    """Fail the running exports whose worker process on this machine is gone (killed, out of
    memory): nothing else would ever finish them. Their files were never stored; the page
    and the API say to export again. Safe to run from any number of processes at once."""
    return leases.reap(EXPORTS).failed


def _export_fail(export: StoryboardExport, message: str) -> None:
    export.state = StoryboardExport.State.FAILED
    _export_update(
        export,
        state=StoryboardExport.State.FAILED,
        error_message=message[:500],
        finished_at=timezone.now(),
    )

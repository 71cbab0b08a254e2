"""Generations: create (text, image or start + end keyframes to video, extend, restyle,
reframe), read, list and cancel, and their files. A generation is one render job; it is
created through the same quote and submit as a render from the studio's pages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja import Header, Router, Status

from accounts.models import ApiKey, Team
from api import auth
from api.models import Upload
from api.pagination import Cursor, Limit, page
from api.problems import ERRORS, ApiProblem, Problem, file_download
from api.schemas import (
    CameraIn,
    FrameRef,
    GenerationCreate,
    GenerationOut,
    GenerationPage,
    Id,
)
from characters import services as characters
from generation import documents, lifecycle, requests, services
from generation.engine.camera import CameraSpec
from generation.models import RenderJob
from generation.ranged import ranged_file_response
from generation.requests import RenderRequest
from generation.uploads import Frame, frame_from_bytes
from generation.vocabulary import Mode, Quality
from storyboards import services as storyboard_services
from storyboards.models import Shot
from webhooks.targets import target_check

router = Router()

FILE_TYPES = {
    "video": "video/mp4",
    "poster": "image/jpeg",
    "strip": "image/jpeg",
    "recipe": "application/json",
}
IdempotencyKey = Header(
    "",
    alias="Idempotency-Key",
    max_length=64,
    pattern=r"^[A-Za-z0-9._:-]*$",
    description="The same key with the same request makes one generation and one charge.",
)


def job_for(key: ApiKey, generation_id: int) -> RenderJob:
    job = (
        RenderJob.objects.select_related("team", "batch", "shot")
        .prefetch_related("artifacts")
        .filter(team=key.team, pk=generation_id)
        .first()
    )
    if job is None:
        raise ApiProblem(404, "No such generation.", slug="not-found")
    return job


def document(job: RenderJob) -> GenerationOut:
    return GenerationOut.model_validate(documents.generation_document(job))


def camera_of(camera: CameraIn | None, words: str | None, aspect: str | None) -> CameraSpec:
    """The request's camera: its settings, then its camera words, then its aspect."""
    spec = CameraSpec()
    if camera is not None:
        spec = requests.camera_from_data(camera.model_dump())
    if words:
        spec = requests.camera_from_words(words, spec)
    return replace(spec, aspect=aspect) if aspect else spec


def _upload(team: Team, ref: FrameRef, field: str) -> Frame:
    upload = Upload.objects.filter(team=team, pk=ref.upload_id or 0).first()
    if upload is None:
        raise ApiProblem(404, "No such upload.", slug="not-found", field=field)
    with upload.file.open("rb") as fh:  # checked when it was uploaded; decoded again here
        return frame_from_bytes(fh.read(), field=field, name=Path(upload.file.name).name)


def _mode(body: GenerationCreate) -> Mode:
    frames = body.keyframes or None
    if body.type != "video":
        if frames and (frames.start or frames.end):
            raise ApiProblem(
                422, "Only type video takes keyframes.", slug="invalid", field="keyframes"
            )
        return {"extend": Mode.EXTEND, "restyle": Mode.RESTYLE, "reframe": Mode.REFRAME}[body.type]
    if frames and frames.end:
        return Mode.KEYFRAMES
    return Mode.IMAGE if frames and frames.start else Mode.TEXT


def render_request(team: Team, body: GenerationCreate) -> RenderRequest:
    """The body as the render service's request; uploads are decoded here."""
    mode = _mode(body)
    inputs: dict[str, object] = {}
    frames = body.keyframes
    for name, ref, field in (
        ("image", frames.start if frames else None, "keyframes.start"),
        ("end_image", frames.end if frames else None, "keyframes.end"),
    ):
        if ref is None:
            continue
        if ref.upload_id is not None:
            inputs[name] = _upload(team, ref, field)
        else:
            inputs[f"{name}_job_id"] = ref.generation_id
    if mode in requests.SOURCE_MODES and body.source_generation_id is None:
        raise ApiProblem(
            422,
            f"Type {body.type} starts from a finished generation: give source_generation_id.",
            slug="invalid",
            field="source_generation_id",
        )
    return RenderRequest(
        prompt=body.prompt,
        mode=mode,
        quality=Quality(body.quality),
        resolution=body.resolution,
        duration_s=body.duration_s,
        fps=body.fps,
        seed=body.seed,
        camera=camera_of(body.camera, body.camera_words, body.aspect),
        commercial=body.commercial,
        source_job_id=body.source_generation_id if mode in requests.SOURCE_MODES else None,
        strength=body.strength,
        loop=body.loop,
        characters=characters.characters_resolve(team=team, prompt=body.prompt),
        **inputs,  # type: ignore[arg-type]
    )


def _shot(team: Team, shot_id: int) -> Shot:
    shot = (
        Shot.objects.select_related("project", "project__team")
        .filter(project__team=team, pk=shot_id)
        .first()
    )
    if shot is None:
        raise ApiProblem(404, "No such shot.", slug="not-found", field="shot_id")
    return shot


@router.post(
    "",
    response={201: GenerationOut, 200: GenerationOut, 402: Problem, **ERRORS},
    auth=auth.render,
    summary="Create a generation",
    description="201 with the new generation, queued. 200 with the first one when this "
    "Idempotency-Key already made it (nothing is charged again). 402 when the team's "
    "credits do not cover it.",
)
def generation_create(
    request: HttpRequest, payload: GenerationCreate, idempotency_key: str = IdempotencyKey
) -> Status[GenerationOut]:
    key = auth.key_of(request)
    team = key.team
    user = key.created_by
    assert user is not None  # a key whose maker is gone does not authenticate
    req = render_request(team, payload)
    idempotency = idempotency_key
    earlier = services.render_batch_find(
        team=team, idempotency_key=idempotency, request=req, takes=1
    )
    if earlier is not None:
        return Status(200, document(job_for(key, earlier.jobs[0].pk)))
    callback = (payload.callback_url or "").strip()
    if callback:
        target_check(callback, field="callback_url")
    if payload.shot_id is not None:
        shot = _shot(team, payload.shot_id)
        _, jobs = storyboard_services.shot_render(
            project=shot.project,
            shot=shot,
            user=user,
            request=req,
            idempotency_key=idempotency,
            callback_url=callback,
        )
    else:
        jobs = services.render_submit(
            team=team, user=user, request=req, idempotency_key=idempotency, callback_url=callback
        ).jobs
    return Status(201, document(job_for(key, jobs[0].pk)))


@router.get("", response={200: GenerationPage, **ERRORS}, auth=auth.read, summary="List")
def generation_list(
    request: HttpRequest,
    cursor: Cursor = None,
    limit: Limit = 20,
    state: Literal["queued", "dreaming", "completed", "failed"] | None = None,
    shot_id: Id | None = None,
) -> GenerationPage:
    """The team's generations, newest first; ``next_cursor`` fetches the next page."""
    key = auth.key_of(request)
    jobs = RenderJob.objects.filter(team=key.team).prefetch_related("artifacts")
    if shot_id is not None:
        if not Shot.objects.filter(project__team=key.team, pk=shot_id).exists():
            raise ApiProblem(
                404, "No such shot.", slug="not-found", field="shot_id", location="query"
            )
        jobs = jobs.filter(shot_id=shot_id)
    if state is not None:
        jobs = jobs.filter(**_state_filter(state))
    items, next_cursor = page(jobs, cursor=cursor, limit=limit)
    return GenerationPage(data=[document(job) for job in items], next_cursor=next_cursor)


def _state_filter(state: str) -> dict[str, object]:
    State = RenderJob.State
    filters: dict[str, dict[str, object]] = {
        "queued": {"state": State.QUEUED, "started_at__isnull": True},
        "dreaming": {"state__in": RenderJob.ACTIVE, "started_at__isnull": False},
        "completed": {"state": State.SUCCEEDED},
        "failed": {"state__in": [State.FAILED, State.CANCELLED]},
    }
    return filters[state]


@router.get(
    "/{generation_id}", response={200: GenerationOut, **ERRORS}, auth=auth.read, summary="Get"
)
def generation_get(request: HttpRequest, generation_id: Id) -> GenerationOut:
    return document(job_for(auth.key_of(request), generation_id))


@router.post(
    "/{generation_id}/cancel",
    response={200: GenerationOut, **ERRORS},
    auth=auth.render,
    summary="Cancel",
    description="A queued generation stops at once, a dreaming one at its next step; its "
    "credits are refunded. A finished one is returned as it is.",
)
def generation_cancel(request: HttpRequest, generation_id: Id) -> GenerationOut:
    job = job_for(auth.key_of(request), generation_id)
    lifecycle.render_job_cancel(job=job)
    return document(job_for(auth.key_of(request), generation_id))


@router.get(
    "/{generation_id}/files/{kind}",
    response={200: None, **ERRORS},
    auth=auth.read,
    url_name="generation_file",
    summary="Download a file",
    description="A completed generation's video (MP4), poster or thumbnail strip (JPEG), "
    "or recipe (JSON). Range requests are served.",
    openapi_extra=file_download(("video/mp4", "image/jpeg", "application/json")),
)
def generation_file(
    request: HttpRequest,
    generation_id: Id,
    kind: Literal["video", "poster", "strip", "recipe"],
) -> HttpResponseBase:
    job = job_for(auth.key_of(request), generation_id)
    artifact = next((a for a in job.artifacts.all() if a.kind == kind), None)
    if artifact is None:
        raise ApiProblem(404, "This generation has no such file (yet).", slug="not-found")
    response: HttpResponse | HttpResponseBase = ranged_file_response(
        request,
        artifact.file.open("rb"),
        size=artifact.file.size,
        content_type=FILE_TYPES[kind],
        filename=Path(artifact.file.name).name,
        download=False,
    )
    return response

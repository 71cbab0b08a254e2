"""Storyboard exports: the film as one MP4, the edit as OpenTimelineIO and a CMX 3600 EDL,
the shots' media and their recipes. Queued and run by ``storyboards.services``, the same
export the project page's button starts; no credits move."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from ninja import Router, Status

from accounts.models import ApiKey
from api import auth
from api.generations import IdempotencyKey
from api.problems import ERRORS, ApiProblem, file_download
from api.schemas import ExportFiles, ExportOut, Id
from generation.ranged import ranged_file_response
from storyboards import exports, services
from storyboards.models import Project, StoryboardExport

router = Router()

FileKind = Literal["video", "timeline", "edl", "media", "recipes"]
STATES = {
    StoryboardExport.State.QUEUED: "queued",
    StoryboardExport.State.RUNNING: "running",
    StoryboardExport.State.SUCCEEDED: "completed",
    StoryboardExport.State.FAILED: "failed",
}


def _project(key: ApiKey, project_id: int) -> Project:
    project = Project.objects.filter(team=key.team, pk=project_id).first()
    if project is None:
        raise ApiProblem(404, "No such project.", slug="not-found")
    return project


def _export(key: ApiKey, export_id: int) -> StoryboardExport:
    export = (
        StoryboardExport.objects.select_related("project")
        .filter(project__team=key.team, pk=export_id)
        .first()
    )
    if export is None:
        raise ApiProblem(404, "No such export.", slug="not-found")
    return export


def document(export: StoryboardExport) -> ExportOut:
    done = export.state == StoryboardExport.State.SUCCEEDED
    files = {
        kind: reverse("api-v1:export_file", kwargs={"export_id": export.pk, "kind": kind})
        for kind, _, _ in (export.files() if done else [])
    }
    return ExportOut(
        id=export.pk,
        project_id=export.project_id,
        state=STATES[StoryboardExport.State(export.state)],  # type: ignore[arg-type]
        progress=export.percent,
        step=export.step,
        error=export.error_message or None,
        duration_s=export.duration_s,
        files=ExportFiles(**files),
        created_at=export.created_at,
        finished_at=export.finished_at,
    )


@router.post(
    "/projects/{project_id}/exports",
    response={201: ExportOut, 200: ExportOut, **ERRORS},
    auth=auth.render,
    summary="Export a project's storyboard",
    description="Queues an export of the storyboard as it stands: each shot's circled take, "
    "conformed to the project's aspect ratio and frame rate, with its transitions. 201 with "
    "the new export; 200 with the earlier one when this Idempotency-Key already made it. "
    "422 when a shot has no finished take. No credits are spent.",
)
def export_create(
    request: HttpRequest, project_id: Id, idempotency_key: str = IdempotencyKey
) -> Status[ExportOut]:
    key = auth.key_of(request)
    project = _project(key, project_id)
    earlier = services.storyboard_export_find(project=project, idempotency_key=idempotency_key)
    if earlier is not None:
        return Status(200, document(earlier))
    user = key.created_by
    assert user is not None  # a key whose maker is gone does not authenticate
    export = services.storyboard_export_request(
        project=project, user=user, idempotency_key=idempotency_key
    )
    return Status(201, document(_export(key, export.pk)))


@router.get(
    "/exports/{export_id}",
    response={200: ExportOut, **ERRORS},
    auth=auth.read,
    summary="Get an export",
    description="Its state (queued → running → completed | failed), progress, and once "
    "completed the paths of its files.",
)
def export_get(request: HttpRequest, export_id: Id) -> ExportOut:
    return document(_export(auth.key_of(request), export_id))


@router.get(
    "/exports/{export_id}/files/{kind}",
    response={200: None, **ERRORS},
    auth=auth.read,
    url_name="export_file",
    summary="Download an export's file",
    description="A completed export's film (MP4), edit (.otio, EDL), shot media or recipes "
    "(zip). Range requests are served.",
    openapi_extra=file_download(sorted({t for _, t in exports.FILE_TYPES.values()})),
)
def export_file(request: HttpRequest, export_id: Id, kind: FileKind) -> HttpResponseBase:
    export = _export(auth.key_of(request), export_id)
    done = export.state == StoryboardExport.State.SUCCEEDED
    found = next((f for k, _, f in export.files() if k == kind), None) if done else None
    if found is None:
        raise ApiProblem(404, "This export has no such file (yet).", slug="not-found")
    extension, content_type = exports.FILE_TYPES[kind]
    return ranged_file_response(
        request,
        found.open("rb"),
        size=found.size,
        content_type=content_type,
        filename=f"{exports.slug(export.project.name)}-{export.pk}.{extension}",
        download=True,
    )

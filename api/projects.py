"""Projects and their shots, as the dashboard and the timeline show them."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from ninja import Router, Status

from accounts.models import ApiKey
from api import auth
from api.generations import camera_of
from api.pagination import Cursor, Limit, page
from api.problems import ERRORS, ApiProblem
from api.schemas import CameraOut, Id, ProjectCreate, ProjectOut, ProjectPage, ShotCreate, ShotOut
from generation import requests
from generation.requests import RenderRequest
from generation.vocabulary import Mode, Quality
from storyboards import services
from storyboards.models import Project, Shot

router = Router()


def _projects(key: ApiKey) -> QuerySet[Project]:
    return Project.objects.filter(team=key.team).annotate(shot_count=Count("shots"))


def _project(key: ApiKey, project_id: int) -> Project:
    project = _projects(key).filter(pk=project_id).first()
    if project is None:
        raise ApiProblem(404, "No such project.", slug="not-found")
    return project


def _project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.pk,
        name=project.name,
        archived=project.archived,
        shots=getattr(project, "shot_count", 0),
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def _shot_out(shot: Shot) -> ShotOut:
    return ShotOut(
        id=shot.pk,
        project_id=shot.project_id,
        position=shot.position,
        title=shot.title,
        prompt=shot.prompt,
        mode=shot.mode,
        aspect=shot.aspect,
        duration_s=shot.duration_s,
        fps=shot.fps,
        resolution=shot.resolution,
        quality=shot.quality,
        seed=shot.seed,
        camera=CameraOut(**shot.camera.to_dict()),
        current_generation_id=shot.current_job_id,
        generation_ids=sorted((job.pk for job in shot.jobs.all()), reverse=True),
        created_at=shot.created_at,
        updated_at=shot.updated_at,
    )


@router.get("/projects", response={200: ProjectPage, **ERRORS}, auth=auth.read, summary="List")
def project_list(
    request: HttpRequest, cursor: Cursor = None, limit: Limit = 20, archived: bool = False
) -> ProjectPage:
    """The team's projects, newest first."""
    projects = _projects(auth.key_of(request)).filter(archived=archived)
    items, next_cursor = page(projects, cursor=cursor, limit=limit)
    return ProjectPage(data=[_project_out(p) for p in items], next_cursor=next_cursor)


@router.post("/projects", response={201: ProjectOut, **ERRORS}, auth=auth.render, summary="Create")
def project_create(request: HttpRequest, payload: ProjectCreate) -> Status[ProjectOut]:
    key = auth.key_of(request)
    if not payload.name.strip():
        raise ApiProblem(422, "Give the project a name.", slug="invalid", field="name")
    project = services.project_create(team=key.team, user=key.created_by, name=payload.name)  # type: ignore[arg-type]
    return Status(201, _project_out(_project(key, project.pk)))


@router.get(
    "/projects/{project_id}", response={200: ProjectOut, **ERRORS}, auth=auth.read, summary="Get"
)
def project_get(request: HttpRequest, project_id: Id) -> ProjectOut:
    return _project_out(_project(auth.key_of(request), project_id))


@router.get(
    "/projects/{project_id}/shots",
    response={200: list[ShotOut], **ERRORS},
    auth=auth.read,
    summary="List a project's shots",
    description="In timeline order.",
)
def shot_list(request: HttpRequest, project_id: Id) -> list[ShotOut]:
    project = _project(auth.key_of(request), project_id)
    shots = project.shots.prefetch_related("jobs").order_by("position", "pk")
    return [_shot_out(shot) for shot in shots]


@router.post(
    "/projects/{project_id}/shots",
    response={201: ShotOut, **ERRORS},
    auth=auth.render,
    summary="Add a shot",
    description="Appends a shot to the timeline. The plan's limits apply as in the composer.",
)
def shot_create(request: HttpRequest, project_id: Id, payload: ShotCreate) -> Status[ShotOut]:
    key = auth.key_of(request)
    project = _project(key, project_id)
    camera = camera_of(payload.camera, payload.camera_words, payload.aspect)
    draft = RenderRequest(
        prompt=payload.prompt,
        quality=Quality(payload.quality),
        resolution=payload.resolution,
        duration_s=payload.duration_s,
        fps=payload.fps,
        seed=payload.seed,
        camera=camera,
    )
    requests.validate(key.team, draft, draft=True)  # the composer's checks on a save
    if not payload.prompt.strip():
        raise ApiProblem(
            422, "Describe the shot: the prompt is empty.", slug="invalid", field="prompt"
        )
    shot = services.shot_create(
        project=project,
        fields={
            "title": payload.title.strip(),
            "prompt": payload.prompt.strip(),
            "mode": Mode.TEXT,
            "camera": camera,
            "aspect": camera.aspect,
            "duration_s": payload.duration_s,
            "fps": payload.fps,
            "resolution": payload.resolution,
            "quality": payload.quality,
            "seed": payload.seed,
        },
    )
    return Status(201, _shot_out(shot))


@router.get(
    "/shots/{shot_id}", response={200: ShotOut, **ERRORS}, auth=auth.read, summary="Get a shot"
)
def shot_get(request: HttpRequest, shot_id: Id) -> ShotOut:
    shot = (
        Shot.objects.filter(project__team=auth.key_of(request).team, pk=shot_id)
        .prefetch_related("jobs")
        .first()
    )
    if shot is None:
        raise ApiProblem(404, "No such shot.", slug="not-found")
    return _shot_out(shot)

"""Storyboard exports through the API: queued by the same service as the project page's
button, polled, and downloaded behind the key's team."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import pytest

from generation import execution
from generation.engine.camera import CameraSpec
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from storyboards import services
from storyboards.models import Project, StoryboardExport, Transition
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)
FPS = 24
BASE = {"fps": 12, "resolution": 540, "quality": "flash", "camera": CameraSpec()}


def rendered_project(team_api: ApiClient) -> Project:
    """Two rendered shots of 2 s with a 0.5 s crossfade between them; the film is 24 fps."""
    project = services.project_create(team=team_api.team, user=team_api.owner, name="Coast")
    services.project_set_format(project=project, aspect="16:9", fps=FPS)
    shots = [
        services.shot_create(project=project, fields=BASE | {"prompt": p, "duration_s": 2})
        for p in ("a red ball", "a lighthouse on a cliff")
    ]
    services.shot_set_transition(shot=shots[1], transition=Transition.CROSSFADE, seconds=0.5)
    for job in services.storyboard_render(project=project, user=team_api.owner):
        assert execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    return project


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def test_an_export_runs_and_its_files_download(api, other) -> None:
    project = rendered_project(api)
    started = api.post(f"/api/v1/projects/{project.pk}/exports")
    assert started.status_code == 201, started.content
    export = started.json()
    assert export["state"] == "queued" and export["project_id"] == project.pk
    assert all(url is None for url in export["files"].values())
    # Before it has run there is nothing to download.
    assert api.get(f"/api/v1/exports/{export['id']}/files/video").status_code == 404
    # The worker's task: the same service the page's export runs.
    assert services.storyboard_export_execute(export["id"]) == StoryboardExport.State.SUCCEEDED
    done = api.get(f"/api/v1/exports/{export['id']}").json()
    assert done["state"] == "completed" and done["progress"] == 100
    assert abs(done["duration_s"] - 3.5) <= 1 / FPS
    assert set(done["files"]) == {"video", "timeline", "edl", "media", "recipes"}
    video = api.get(done["files"]["video"])
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert video["Cache-Control"] == "private, no-store"
    assert "attachment" in video["Content-Disposition"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "film.mp4"
        path.write_bytes(body(video))
        frames, fps = decode_video(path)
    # The film is the two shots less the crossfade's overlap, within one frame.
    assert fps == FPS and frames.shape[1:] == (540, 960, 3)
    assert abs(len(frames) / fps - (2 + 2 - 0.5)) <= 1 / FPS
    timeline = json.loads(body(api.get(done["files"]["timeline"])))
    assert timeline["OTIO_SCHEMA"].startswith("Timeline")
    edl = body(api.get(done["files"]["edl"])).decode()
    assert "TITLE:" in edl and "SHOT01" in edl
    recipes = zipfile.ZipFile(io.BytesIO(body(api.get(done["files"]["recipes"]))))
    assert "storyboard.json" in recipes.namelist() and len(recipes.namelist()) == 3
    ranged = api.get(done["files"]["video"], Range="bytes=0-99")
    assert ranged.status_code == 206 and len(body(ranged)) == 100
    # Another team's key: the export, its files and the project are as absent as missing ones.
    for path in (
        f"/api/v1/exports/{export['id']}",
        f"/api/v1/exports/{export['id']}/files/video",
        f"/api/v1/exports/{export['id'] + 1000}",
    ):
        refused = other.get(path)
        assert refused.status_code == 404, path
        assert refused["Content-Type"] == "application/problem+json"
    assert other.post(f"/api/v1/projects/{project.pk}/exports").status_code == 404
    assert StoryboardExport.objects.count() == 1


def test_the_same_idempotency_key_makes_one_export(api) -> None:
    project = rendered_project(api)
    first = api.post(f"/api/v1/projects/{project.pk}/exports", **{"Idempotency-Key": "film-1"})
    again = api.post(f"/api/v1/projects/{project.pk}/exports", **{"Idempotency-Key": "film-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert StoryboardExport.objects.filter(project=project).count() == 1
    # The key names this project's export: another project with it is refused, nothing queued.
    elsewhere = rendered_project(api)
    reused = api.post(f"/api/v1/projects/{elsewhere.pk}/exports", **{"Idempotency-Key": "film-1"})
    assert reused.status_code == 422
    assert reused.json()["type"] == "urn:dailies:problem:idempotency-key-reused"
    assert not StoryboardExport.objects.filter(project=elsewhere).exists()
    # Without a key, each request is a new export, as the page's button makes one.
    assert api.post(f"/api/v1/projects/{project.pk}/exports").json()["id"] != first.json()["id"]


def test_a_storyboard_without_finished_takes_is_refused(api) -> None:
    project = services.project_create(team=api.team, user=api.owner, name="Empty")
    empty = api.post(f"/api/v1/projects/{project.pk}/exports")
    assert empty.status_code == 422 and "Add a shot" in empty.json()["detail"]
    services.shot_create(project=project, fields=BASE | {"prompt": "a ball", "duration_s": 2})
    unrendered = api.post(f"/api/v1/projects/{project.pk}/exports")
    assert unrendered.status_code == 422 and "no finished take" in unrendered.json()["detail"]
    assert not StoryboardExport.objects.exists()

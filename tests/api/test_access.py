"""Who may call what: keys, scopes, other teams' objects, and the rate limit."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from django.test import Client
from PIL import Image

from accounts import services as accounts
from accounts.models import ApiKey, Membership
from api.main import api as ninja_api
from characters import services as characters
from characters.models import Character
from generation import execution
from generation.models import RenderJob
from generation.uploads import frame_from_bytes
from storyboards import services
from storyboards.models import Project, Shot, StoryboardExport
from tests.api.conftest import SMALL, ApiClient, api_client

pytestmark = pytest.mark.django_db(transaction=True)


def png(color: tuple[int, int, int] = (200, 40, 40)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "frame.png"
    return buffer


def _objects_of(team_api: ApiClient) -> dict[str, int]:
    """A finished generation, an upload, a project, a shot and a storyboard export of a team."""
    generation = team_api.post("/api/v1/generations", SMALL).json()["id"]
    assert execution.render_job_execute(generation) == RenderJob.State.SUCCEEDED
    upload = team_api.upload("/api/v1/uploads", {"file": png()}).json()["id"]
    project = team_api.post("/api/v1/projects", {"name": "Theirs"}).json()["id"]
    shot = team_api.post(f"/api/v1/projects/{project}/shots", {"prompt": "a shot"}).json()["id"]
    take = team_api.post("/api/v1/generations", SMALL | {"shot_id": shot}).json()["id"]
    assert execution.render_job_execute(take) == RenderJob.State.SUCCEEDED
    export = team_api.post(f"/api/v1/projects/{project}/exports").json()["id"]
    assert services.storyboard_export_execute(export) == StoryboardExport.State.SUCCEEDED
    return {
        "generation": generation,
        "upload": upload,
        "project": project,
        "shot": shot,
        "export": export,
    }


def test_another_teams_ids_are_404_on_every_endpoint(api, other) -> None:
    b = _objects_of(other)
    g, u, p, s, e = b["generation"], b["upload"], b["project"], b["shot"], b["export"]
    picture = io.BytesIO()
    Image.new("RGB", (32, 48), (200, 30, 30)).save(picture, format="PNG")
    character = characters.character_lock_from_uploads(
        team=other.team,
        user=other.owner,
        name="Mara",
        images=[frame_from_bytes(picture.getvalue(), name="mara.png")],
    )
    c = character.pk
    by_path = [
        ("get", f"/api/v1/generations/{g}", None),
        ("post", f"/api/v1/generations/{g}/cancel", None),
        ("get", f"/api/v1/generations/{g}/files/video", None),
        ("get", f"/api/v1/uploads/{u}", None),
        ("get", f"/api/v1/projects/{p}", None),
        ("get", f"/api/v1/projects/{p}/shots", None),
        ("post", f"/api/v1/projects/{p}/shots", {"prompt": "mine now"}),
        ("get", f"/api/v1/shots/{s}", None),
        ("post", f"/api/v1/projects/{p}/exports", None),
        ("get", f"/api/v1/exports/{e}", None),
        ("get", f"/api/v1/exports/{e}/files/video", None),
        ("get", f"/api/v1/characters/{c}", None),
        ("get", f"/api/v1/characters/{c}/training", None),
        ("post", f"/api/v1/characters/{c}/training/cancel", None),
        ("delete", f"/api/v1/characters/{c}", None),
    ]
    in_body = [
        ("get", "/api/v1/generations", {"shot_id": s}),
        ("post", "/api/v1/generations", SMALL | {"shot_id": s}),
        ("post", "/api/v1/generations", SMALL | {"type": "restyle", "source_generation_id": g}),
        ("post", "/api/v1/generations", SMALL | {"type": "extend", "source_generation_id": g}),
        ("post", "/api/v1/generations", SMALL | {"type": "reframe", "source_generation_id": g, "aspect": "1:1"}),
        ("post", "/api/v1/generations", SMALL | {"keyframes": {"start": {"generation_id": g}}}),
        ("post", "/api/v1/generations", SMALL | {"keyframes": {"start": {"upload_id": u}}}),
        ("post", "/api/v1/generations", SMALL | {"keyframes": {"start": {"upload_id": u}, "end": {"generation_id": g}}}),
        ("post", "/api/v1/credits/estimate", SMALL | {"type": "restyle", "source_generation_id": g}),
    ]  # fmt: skip
    for method, path, data in by_path + in_body:
        if method == "get":
            response = api.get(path, data)
        elif method == "delete":
            response = api.delete(path)
        else:
            response = api.post(path, data)
        assert response.status_code == 404, (method, path, data, response.content)
        assert response["Content-Type"] == "application/problem+json"
    # Every endpoint (method and path) that takes an id in its path is among those tried.
    templates = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in ninja_api.get_openapi_schema()["paths"].items()
        for method in operations
    }
    tried = {(method, re.sub(r"/\d+", "/{}", path)) for method, path, _ in by_path}
    tried = {(m, t.replace("/files/video", "/files/{}")) for m, t in tried}
    assert {(m, t) for m, t in templates if "{}" in t} <= tried
    # Nothing of the other team's moved, and nothing was made for this one.
    assert RenderJob.objects.get(pk=g).state == RenderJob.State.SUCCEEDED
    assert not RenderJob.objects.filter(team=api.team).exists()
    assert StoryboardExport.objects.filter(project_id=p).count() == 1
    assert Shot.objects.filter(project_id=p).count() == 1
    assert character.adapters.get().state == "queued"
    assert Character.objects.filter(pk=c).exists()


def test_no_key_an_unknown_key_and_a_revoked_key_are_401(api) -> None:
    assert Client().get("/api/v1/credits").status_code == 401
    forged = api.token[:-4] + "AAAA"
    response = Client().get("/api/v1/credits", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/v1/credits").status_code == 200
    key = ApiKey.objects.get(team=api.team)
    accounts.api_key_revoke(key=key, actor=api.owner)
    for path in ("/api/v1/credits", "/api/v1/generations", "/api/v1/projects"):
        assert api.get(path).status_code == 401
    assert api.post("/api/v1/generations", SMALL).status_code == 401
    assert not RenderJob.objects.exists()


def test_a_key_stops_working_when_its_maker_leaves_the_team(api, seeded) -> None:
    from tests.factories import UserFactory

    admin = UserFactory()
    accounts.membership_add(team=api.team, actor=api.owner, email=admin.email, role="admin")
    _, token = accounts.api_key_create(team=api.team, actor=admin, name="theirs", scopes=["read"])
    headers = {"Authorization": f"Bearer {token}"}
    assert Client().get("/api/v1/credits", headers=headers).status_code == 200
    accounts.membership_remove(
        membership=Membership.objects.get(team=api.team, user=admin), actor=api.owner
    )
    assert Client().get("/api/v1/credits", headers=headers).status_code == 401


def test_a_read_key_cannot_render(seeded) -> None:
    reader = api_client(scopes=("read",))
    assert reader.get("/api/v1/generations").status_code == 200
    refused = reader.post("/api/v1/generations", SMALL)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:dailies:problem:scope-missing"
    assert not RenderJob.objects.exists()


def test_the_rate_limit_answers_429_and_recovers(api, settings) -> None:
    settings.API_RATE_WINDOW_S = 1.0
    plan = api.team.plan
    plan.api_requests_per_minute = 180  # 3 a second
    plan.save()
    while time.time() % 1.0 > 0.3:  # start the burst early in a window
        time.sleep(0.02)
    answers = [api.get("/api/v1/credits") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Limit"] == "3"
    limited = answers[3]
    assert limited.json()["type"] == "urn:dailies:problem:rate-limited"
    wait = int(limited["Retry-After"])
    assert 1 <= wait <= 1
    time.sleep(wait + 0.05)
    assert api.get("/api/v1/credits").status_code == 200


def test_keyframes_from_uploads_reach_the_render(api) -> None:
    start = api.upload("/api/v1/uploads", {"file": png((220, 30, 30))})
    end = api.upload("/api/v1/uploads", {"file": png((30, 30, 220))})
    assert start.status_code == 201 and start.json()["width"] == 64
    body = SMALL | {
        "keyframes": {
            "start": {"upload_id": start.json()["id"]},
            "end": {"upload_id": end.json()["id"]},
        }
    }
    created = api.post("/api/v1/generations", body)
    assert created.status_code == 201, created.content
    job = RenderJob.objects.get(pk=created.json()["id"])
    assert job.mode == "keyframes"
    with job.input_end_image.open("rb") as fh, Image.open(fh) as img:
        assert img.convert("RGB").getpixel((0, 0)) == (30, 30, 220)
    junk = api.upload("/api/v1/uploads", {"file": io.BytesIO(b"not an image")})
    assert junk.status_code == 422 and junk.json()["field"] == "file"


def test_projects_and_shots(api) -> None:
    project = api.post("/api/v1/projects", {"name": "Trailer"})
    assert project.status_code == 201
    pid = project.json()["id"]
    shot = api.post(
        f"/api/v1/projects/{pid}/shots", {"prompt": "a door opens", "camera_words": "slow push-in"}
    )
    assert shot.status_code == 201
    sid = shot.json()["id"]
    too_big = api.post(f"/api/v1/projects/{pid}/shots", {"prompt": "x", "resolution": 2160})
    assert too_big.status_code == 422 and too_big.json()["field"] == "resolution"
    take = api.post("/api/v1/generations", SMALL | {"shot_id": sid}).json()
    got = api.get(f"/api/v1/shots/{sid}").json()
    assert got["current_generation_id"] == take["id"] == got["generation_ids"][0]
    assert take["shot_id"] == sid
    assert api.get("/api/v1/projects").json()["data"][0]["shots"] == 1
    assert Project.objects.get(pk=pid).team == api.team


def test_the_api_needs_no_csrf_token_but_still_a_key(api) -> None:
    """A script has no CSRF cookie: the API is exempt from CSRF, never from its key."""
    strict = Client(enforce_csrf_checks=True)
    headers = {"Authorization": f"Bearer {api.token}"}
    body = json.dumps(SMALL)
    created = strict.post(
        "/api/v1/generations", body, content_type="application/json", headers=headers
    )
    assert created.status_code == 201
    anonymous = strict.post("/api/v1/generations", body, content_type="application/json")
    assert anonymous.status_code == 401

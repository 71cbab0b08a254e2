"""Another team's character answers 404 everywhere: its pages and files, its actions, its
websocket, prompt resolution and the API."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts import services as accounts
from billing import ledger
from characters.models import Character
from generation.models import RenderJob
from storyboards import services as storyboards
from studio.asgi import application
from tests.characters.conftest import png
from tests.factories import team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def theirs(locked) -> Character:
    return locked("Mara")


@pytest.fixture
def stranger(seeded):
    team, owner = team_with_owner(plan_code="pro", name="Other")
    client = Client()
    client.force_login(owner)
    return team, owner, client


def test_pages_files_and_actions_answer_404(theirs, stranger) -> None:
    _, _, client = stranger
    adapter = theirs.current_adapter
    ref = theirs.references.get()
    for name, args in (
        ("character_detail", [theirs.pk]),
        ("character_status", [theirs.pk]),
        ("reference_image", [theirs.pk, ref.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in (
        ("character_retrain", [theirs.pk]),
        ("adapter_rollback", [theirs.pk, adapter.pk]),
        ("adapter_cancel", [theirs.pk, adapter.pk]),
    ):
        assert client.post(reverse(name, args=args)).status_code == 404, name
    assert theirs.adapters.count() == 1
    names = client.get(reverse("character_names")).json()
    assert names == {"characters": []}
    assert "Mara" not in client.get(reverse("character_list")).content.decode()


def test_their_take_cannot_be_locked_from(pro_team, stranger) -> None:
    from tests.characters.test_lock import _rendered_take

    team, owner, _ = pro_team
    job = _rendered_take(team, owner)
    _, _, client = stranger
    response = client.post(
        reverse("character_lock_take"),
        {"job": job.pk, "frame": 0, "x": 0, "y": 0, "w": 50, "h": 50, "name": "Thief"},
    )
    assert response.status_code == 404 and not Character.objects.filter(name="Thief").exists()


def test_the_websocket_is_closed_before_joining(theirs, stranger) -> None:
    _, _owner, client = stranger
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def connect(path: str) -> tuple[bool, int | str | None]:
        ws = WebsocketCommunicator(
            application,
            path,
            headers=[
                (b"cookie", cookie.encode()),
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
            ],
        )
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert async_to_sync(connect)(f"/ws/characters/{theirs.pk}/") == (False, 4404)


def test_their_name_in_a_prompt_is_an_unknown_name(theirs, stranger) -> None:
    team, owner, client = stranger
    project = storyboards.project_create(team=team, user=owner, name="Mine")
    before = ledger.balance(team).available
    from tests.characters.test_use import COMPOSER

    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "x"},
    )
    assert "No character named @Mara in your team" in response.content.decode()
    assert not RenderJob.objects.filter(team=team).exists()
    assert ledger.balance(team).available == before
    # Picking it by id is refused as well.
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "on the beach", "characters": [theirs.pk], "idempotency_key": "y"},
    )
    assert response.status_code == 200 and not RenderJob.objects.filter(team=team).exists()


def test_the_api_answers_404_and_locks_for_its_own_team(theirs, stranger) -> None:
    team, owner, _client = stranger
    ledger.topup(team=team, credits=100)
    _, token = accounts.api_key_create(team=team, actor=owner, name="k", scopes=["read", "render"])
    auth = {"Authorization": f"Bearer {token}"}
    for path in (
        f"/api/v1/characters/{theirs.pk}",
        f"/api/v1/characters/{theirs.pk}/training",
    ):
        response = Client().get(path, headers=auth)
        assert (
            response.status_code == 404 and response["Content-Type"] == "application/problem+json"
        )
    cancel = Client().post(f"/api/v1/characters/{theirs.pk}/training/cancel", headers=auth)
    assert cancel.status_code == 404
    assert Client().get("/api/v1/characters", headers=auth).json()["items"] == []

    created = Client().post(
        "/api/v1/characters",
        {"name": "Nell", "files": [png((1, 2, 3), name="a.png"), png((3, 2, 1), name="b.png")]},
        headers=auth,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Nell" and body["references"] == 2 and body["current_version"] is None
    assert body["training"]["state"] == "queued" and body["training"]["credits"] == 20
    listed = Client().get("/api/v1/characters", headers=auth).json()["items"]
    assert [c["name"] for c in listed] == ["Nell"]
    status = Client().get(f"/api/v1/characters/{body['id']}/training", headers=auth).json()
    assert status["version"] == 1 and status["state"] == "queued"

    before = ledger.balance(team).available
    junk = Client().post(
        "/api/v1/characters",
        {"name": "Bad", "files": [SimpleUploadedFile("x.png", b"not an image")]},
        headers=auth,
    )
    assert junk.status_code == 422 and junk.json()["field"] == "files"
    unknown = Client().post(
        "/api/v1/generations",
        json.dumps(
            {
                "prompt": "@Mara walks",
                "quality": "flash",
                "resolution": 540,
                "duration_s": 1,
                "fps": 12,
            }
        ),
        content_type="application/json",
        headers=auth,
    )
    assert unknown.status_code == 422 and "No character named @Mara" in unknown.json()["detail"]
    assert not Character.objects.filter(name="Bad").exists()
    assert ledger.balance(team).available == before

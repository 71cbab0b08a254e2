"""Deleting a character through the API: the service the character page uses, 409 while it
trains, 404 for another team's id as for a missing one, the render scope needed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image

from accounts import services as accounts
from characters import execution
from characters.models import Character
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_training(settings) -> None:
    settings.CHARACTER_TRAINING = {"steps": 3, "rank": 2, "batch_size": 1}


def _lock(api, name: str = "Mara") -> Character:
    picture = io.BytesIO()
    Image.new("RGB", (48, 64), (200, 30, 30)).save(picture, format="PNG")
    picture.seek(0)
    picture.name = "mara.png"
    response = api.upload("/api/v1/characters", {"name": name, "files": [picture]})
    assert response.status_code == 201, response.content
    return Character.objects.get(pk=response.json()["id"])


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_delete_removes_the_character_and_its_adapter_folder(api) -> None:
    mara = _lock(api)
    assert execution.adapter_train_execute(mara.adapters.get().pk) == "ready"
    folder = Path(mara.adapters.get().path)
    assert folder.is_dir()
    response = api.delete(f"/api/v1/characters/{mara.pk}")
    assert response.status_code == 204 and response.content == b""
    assert not Character.objects.filter(pk=mara.pk).exists() and not folder.exists()
    assert _problem(api.get(f"/api/v1/characters/{mara.pk}"), 404)["detail"] == "No such character."
    assert _problem(api.delete(f"/api/v1/characters/{mara.pk}"), 404)["detail"] == (
        "No such character."
    )


def test_a_training_character_answers_409_and_stays(api) -> None:
    mara = _lock(api)  # its first version is queued
    problem = _problem(api.delete(f"/api/v1/characters/{mara.pk}"), 409)
    assert problem["detail"] == "Mara is training: cancel the training, then delete them."
    assert Character.objects.filter(pk=mara.pk).exists()
    assert api.post(f"/api/v1/characters/{mara.pk}/training/cancel").status_code == 200
    assert api.delete(f"/api/v1/characters/{mara.pk}").status_code == 204


def test_another_teams_key_gets_404_and_the_character_stays(api, other) -> None:
    theirs = _lock(other)
    assert execution.adapter_train_execute(theirs.adapters.get().pk) == "ready"
    problem = _problem(api.delete(f"/api/v1/characters/{theirs.pk}"), 404)
    assert problem["detail"] == "No such character."
    assert Character.objects.filter(pk=theirs.pk).exists()
    assert Path(theirs.adapters.get().path).is_dir()


def test_a_read_key_cannot_delete(api) -> None:
    mara = _lock(api)
    assert execution.adapter_train_execute(mara.adapters.get().pk) == "ready"
    _, token = accounts.api_key_create(team=api.team, actor=api.owner, name="r", scopes=["read"])
    reader = ApiClient(team=api.team, owner=api.owner, token=token, client=Client())
    problem = _problem(reader.delete(f"/api/v1/characters/{mara.pk}"), 403)
    assert problem["type"] == "urn:dailies:problem:scope-missing"
    assert Character.objects.filter(pk=mara.pk).exists()

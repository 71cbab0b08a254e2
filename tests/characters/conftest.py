from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.models import Team, User
from characters import execution, services
from characters.models import Character
from generation.uploads import frame_from_bytes
from tests.factories import team_with_owner


def png(color: tuple[int, int, int], size: tuple[int, int] = (48, 64), name: str = "ref.png"):
    """An upload of a figure-like image: a coloured block on grey."""
    pixels = np.full((size[1], size[0], 3), 90, dtype=np.uint8)
    pixels[size[1] // 4 : -size[1] // 4, size[0] // 3 : -size[0] // 3] = color
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture(autouse=True)
def _short_training(settings) -> None:
    # A few steps of the tiny preset: what the tests assert does not depend on training.
    settings.CHARACTER_TRAINING = {"steps": 3, "rank": 2, "batch_size": 1}


@pytest.fixture
def pro_team(seeded) -> tuple[Team, User, Client]:
    team, owner = team_with_owner(plan_code="pro", name="Mine")
    client = Client()
    client.force_login(owner)
    return team, owner, client


@pytest.fixture
def locked(pro_team) -> Callable[..., Character]:
    """``locked(name)`` locks a character from an upload and trains it on this process."""
    team, owner, _ = pro_team

    def lock(name: str = "Mara", color: tuple[int, int, int] = (200, 30, 30)) -> Character:
        upload = png(color)
        frame = frame_from_bytes(upload.read(), field="references", name="ref.png")
        character = services.character_lock_from_uploads(
            team=team, user=owner, name=name, images=[frame]
        )
        adapter = character.adapters.get()
        assert execution.adapter_train_execute(adapter.pk) == "ready"
        character.refresh_from_db()
        return character

    return lock

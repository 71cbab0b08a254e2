from __future__ import annotations

import pytest
from django.test import Client

from storyboards import services
from storyboards.models import Project, Shot
from tests.factories import team_with_owner


@pytest.fixture
def owner_client(seeded):
    """A Free-plan team, its owner logged in, and one project with two shots."""
    team, owner = team_with_owner(plan_code="free", name="Mine")
    client = Client()
    client.force_login(owner)
    project = services.project_create(team=team, user=owner, name="Lighthouse")
    base = {"prompt": "a red ball rolls", "duration_s": 2, "resolution": 540, "quality": "flash"}
    shots = [
        services.shot_create(project=project, fields=base | {"title": "One"}),
        services.shot_create(project=project, fields=base | {"title": "Two"}),
    ]
    return client, team, owner, project, shots


@pytest.fixture
def other_team(seeded) -> tuple[Project, Shot]:
    team, owner = team_with_owner(plan_code="pro", name="Theirs")
    project = services.project_create(team=team, user=owner, name="Secret")
    shot = services.shot_create(project=project, fields={"prompt": "their shot"})
    return project, shot

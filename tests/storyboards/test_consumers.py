"""The project's websocket: every take of its shots, relayed to its team only."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from generation import progress
from storyboards.models import Project, Shot
from tests.factories import submit_one, team_with_owner
from tests.generation.test_consumers import _communicator

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded"),
]


async def test_project_group_relays_its_shots_jobs_only_to_its_team(small_request) -> None:
    team, owner = await sync_to_async(team_with_owner)()
    project = await Project.objects.acreate(team=team, name="Night shoot", created_by=owner)
    shot = await Shot.objects.acreate(project=project, prompt=small_request.prompt)
    job = await sync_to_async(submit_one)(
        team=team, user=owner, request=small_request, shot_id=shot.pk
    )
    ws = await _communicator(f"/ws/projects/{project.pk}/", owner)
    assert (await ws.connect())[0]
    await sync_to_async(progress.push)(
        await sync_to_async(lambda: type(job).objects.select_related("shot").get(pk=job.pk))()
    )
    assert f'id="job-{job.pk}-status"' in await ws.receive_from(timeout=5)
    await ws.disconnect()
    _, stranger = await sync_to_async(team_with_owner)()
    refused = await _communicator(f"/ws/projects/{project.pk}/", stranger)
    connected, code = await refused.connect()
    await refused.disconnect()
    assert not connected and code == 4404


async def test_an_exports_progress_reaches_its_project_page(small_request) -> None:
    from storyboards import services
    from storyboards.models import StoryboardExport

    team, owner = await sync_to_async(team_with_owner)()
    project = await Project.objects.acreate(team=team, name="Night shoot", created_by=owner)
    export = await StoryboardExport.objects.acreate(project=project, requested_by=owner)
    ws = await _communicator(f"/ws/projects/{project.pk}/", owner)
    assert (await ws.connect())[0]
    export.percent, export.step = 40, "Conforming shot 2"
    await sync_to_async(services._push_export)(export)
    html = await ws.receive_from(timeout=5)
    assert f'id="export-{export.pk}"' in html and 'hx-swap-oob="true"' in html
    assert 'aria-valuenow="40"' in html and "Conforming shot 2" in html
    await ws.disconnect()

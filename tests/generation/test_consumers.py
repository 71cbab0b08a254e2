from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from generation import progress
from studio.asgi import application
from tests.factories import submit_one, team_with_owner

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded"),
]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def _communicator(path: str, user) -> WebsocketCommunicator:
    cookie = await sync_to_async(_session_cookie)(user)
    return WebsocketCommunicator(
        application,
        path,
        headers=[
            (b"cookie", cookie.encode()),
            (b"origin", b"http://127.0.0.1"),
            (b"host", b"127.0.0.1"),
        ],
    )


@pytest.fixture
def job(small_request):
    team, owner = team_with_owner()
    return submit_one(team=team, user=owner, request=small_request), owner


async def test_the_owner_receives_pushed_status_html(job) -> None:
    job, owner = job
    ws = await _communicator(f"/ws/jobs/{job.pk}/", owner)
    connected, _ = await ws.connect()
    assert connected
    await sync_to_async(progress.push)(job)
    html = await ws.receive_from(timeout=5)
    assert html.startswith(f'<div id="job-{job.pk}-status"') and 'hx-swap-oob="true"' in html
    await ws.disconnect()


async def test_another_teams_socket_is_closed_before_joining(job) -> None:
    job, _ = job
    _, stranger = await sync_to_async(team_with_owner)()
    ws = await _communicator(f"/ws/jobs/{job.pk}/", stranger)
    connected, code = await ws.connect()
    await ws.disconnect()  # ends the consumer's task, refused or not
    assert not connected and code == 4404


async def test_an_anonymous_socket_is_closed(job) -> None:
    job, _ = job
    ws = WebsocketCommunicator(
        application, f"/ws/jobs/{job.pk}/", headers=[(b"origin", b"http://127.0.0.1")]
    )
    connected, _ = await ws.connect()
    await ws.disconnect()
    assert not connected

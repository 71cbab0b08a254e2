from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from billing import ledger
from generation import execution
from generation.models import RenderJob
from tests.factories import submit_one, team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_renders_page_lists_renders_and_takes_no_second_form(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    client = _client(owner)
    html = client.get(reverse("job_list")).content.decode()
    assert f'href="/renders/{job.pk}/"' in html and "<textarea" not in html
    assert "Open your projects" in html  # renders are asked for in a project's composer
    refused = client.post(reverse("job_list"), {"prompt": "a lamp", "idempotency_key": "k-1"})
    assert refused.status_code == 405
    assert RenderJob.objects.filter(team=team).count() == 1


def test_the_status_partial_is_a_fragment_for_htmx_and_a_page_otherwise(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    client = _client(owner)
    url = reverse("job_status", args=[job.pk])
    fragment = client.get(url, **HTMX).content.decode()
    assert fragment.lstrip().startswith(f'<div id="job-{job.pk}-status"')
    assert 'hx-trigger="every 2s" data-poll-fallback' in fragment  # polling fallback
    assert "<html" in client.get(url).content.decode()


@pytest.mark.django_db(transaction=True)
def test_artifacts_download_through_the_access_check(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    execution.render_job_execute(job.pk)
    response = _client(owner).get(reverse("job_artifact", args=[job.pk, "video"]) + "?download=1")
    assert response.status_code == 200
    assert f'filename="dailies-job-{job.pk}-video.mp4"' in response["Content-Disposition"]
    whole = b"".join(response.streaming_content)
    assert b"ftyp" in whole[:64] and response["Accept-Ranges"] == "bytes"
    # One team's render: no shared cache or browser disk keeps it.
    assert response["Cache-Control"] == "private, no-store"
    # The player seeks with byte ranges.
    part = _client(owner).get(
        reverse("job_artifact", args=[job.pk, "video"]), HTTP_RANGE="bytes=100-199"
    )
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part["Cache-Control"] == "private, no-store"
    assert b"".join(part.streaming_content) == whole[100:200]
    tail = _client(owner).get(
        reverse("job_artifact", args=[job.pk, "video"]), HTTP_RANGE="bytes=-10"
    )
    assert b"".join(tail.streaming_content) == whole[-10:]
    beyond = _client(owner).get(
        reverse("job_artifact", args=[job.pk, "video"]), HTTP_RANGE=f"bytes={len(whole)}-"
    )
    assert beyond.status_code == 416


def test_every_render_url_answers_404_for_another_team(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    _, stranger = team_with_owner()
    client = _client(stranger)
    for name, args in (
        ("job_detail", [job.pk]),
        ("job_status", [job.pk]),
        ("job_artifact", [job.pk, "video"]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 404, name
        assert client.get(reverse(name, args=args), **HTMX).status_code == 404, name
    assert client.post(reverse("job_cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.state == RenderJob.State.QUEUED
    assert job.pk not in [j.pk for j in _client(stranger).get(reverse("job_list")).context["jobs"]]


def test_cancel_from_the_page_refunds_a_queued_job(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    fragment = _client(owner).post(reverse("job_cancel", args=[job.pk]), **HTMX).content.decode()
    assert "Cancelled" in fragment and "refunded" in fragment
    assert ledger.balance(team).held == 0

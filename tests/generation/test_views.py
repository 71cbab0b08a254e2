from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from billing import ledger
from generation import execution
from generation.models import RenderJob
from tests.factories import submit_one, team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")
HTMX = {"HTTP_HX_REQUEST": "true"}
FORM = {
    "prompt": "a red ball rolls across wooden boards, slow push-in",
    "quality": "flash", "resolution": "540", "duration_s": "2", "fps": "12", "aspect": "16:9",
    "focal_mm": "35", "aperture": "2", "shutter_deg": "180", "move_1": "dolly:in", "seed": "3",
}  # fmt: skip


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_render_form_queues_a_job_and_shows_its_page() -> None:
    team, owner = team_with_owner()
    client = _client(owner)
    response = client.post(reverse("job_list"), {**FORM, "idempotency_key": "k-1"}, follow=True)
    job = RenderJob.objects.get(team=team)
    assert response.redirect_chain[-1][0] == reverse("job_detail", args=[job.pk])
    html = response.content.decode()
    assert "credits reserved" in html and f'ws-connect="/ws/jobs/{job.pk}/"' in html
    assert ledger.balance(team).held == job.estimate_credits
    # A double submit with the same form key makes no second job.
    client.post(reverse("job_list"), {**FORM, "idempotency_key": "k-1"})
    assert RenderJob.objects.filter(team=team).count() == 1


def test_plan_limits_are_shown_next_to_the_field() -> None:
    team, owner = team_with_owner(plan_code="free")
    html = _client(owner).post(reverse("job_list"), {**FORM, "resolution": "1080"}).content.decode()
    assert re.search(r'id="id_resolution-errors">.*Free plan: up to 720p and 5 s', html, re.S)
    assert not RenderJob.objects.exists() and ledger.balance(team).held == 0


def test_a_blocked_prompt_is_explained_under_the_prompt() -> None:
    _, owner = team_with_owner()
    html = (
        _client(owner).post(reverse("job_list"), {**FORM, "prompt": "a beheading"}).content.decode()
    )
    assert re.search(r'id="id_prompt-errors">.*blocked by the content policy', html, re.S)
    assert not RenderJob.objects.exists()


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
    # The player seeks with byte ranges.
    part = _client(owner).get(
        reverse("job_artifact", args=[job.pk, "video"]), HTTP_RANGE="bytes=100-199"
    )
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(whole)}"
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

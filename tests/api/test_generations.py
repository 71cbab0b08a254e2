"""Generations through the API: the same quote, submit, ledger and lifecycle as the pages."""

from __future__ import annotations

import pytest

from billing.models import LedgerEntry
from generation import execution
from generation.models import RenderJob
from tests.api.conftest import SMALL

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_get_list_and_cancel(api) -> None:
    created = api.post("/api/v1/generations", SMALL)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "queued" and body["type"] == "video" and body["mode"] == "t2v"
    assert body["camera"]["moves"][0]["kind"] == "dolly" and body["camera"]["focal_mm"] == 35
    job = RenderJob.objects.get(pk=body["id"])
    assert body["credits_estimate"] == job.estimate_credits > 0
    assert api.get(f"/api/v1/generations/{job.pk}").json()["id"] == job.pk
    listed = api.get("/api/v1/generations", {"state": "queued"}).json()
    assert [g["id"] for g in listed["data"]] == [job.pk]
    cancelled = api.post(f"/api/v1/generations/{job.pk}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "failed"
    assert cancelled.json()["failure"]["code"] == "cancelled"
    assert api.get("/api/v1/credits").json()["held"] == 0


def test_cursor_pages_cover_every_generation_once(api) -> None:
    ids = {api.post("/api/v1/generations", SMALL | {"seed": s}).json()["id"] for s in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/v1/generations", params).json()
        seen += [g["id"] for g in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)
    bad = api.get("/api/v1/generations", {"cursor": "bm9wZQ=="})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


def test_one_idempotency_key_makes_one_job_and_one_charge(api) -> None:
    first = api.post("/api/v1/generations", SMALL, **{"Idempotency-Key": "run-42"})
    again = api.post("/api/v1/generations", SMALL, **{"Idempotency-Key": "run-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert RenderJob.objects.filter(team=api.team).count() == 1
    assert LedgerEntry.objects.filter(team=api.team, kind="reserve").count() == 1
    other = api.post("/api/v1/generations", SMALL | {"seed": 8}, **{"Idempotency-Key": "run-42"})
    assert other.status_code == 422
    problem = other.json()
    assert problem["type"] == "urn:dailies:problem:idempotency-key-reused"
    assert problem["field"] == "Idempotency-Key"
    assert other["Content-Type"] == "application/problem+json"
    assert RenderJob.objects.filter(team=api.team).count() == 1


def test_refusals_are_problem_details_naming_the_field(api) -> None:
    too_long = api.post("/api/v1/generations", SMALL | {"duration_s": 20})
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "duration_s"
    assert "clips up to 10 s" in too_long.json()["detail"]  # the composer's own sentence
    lens = api.post("/api/v1/generations", SMALL | {"camera": {"focal_mm": 9}})
    assert lens.status_code == 422
    assert lens.json()["field"] == "camera.focal_mm"
    assert lens.json()["pointer"] == "/camera/focal_mm"
    extend = api.post("/api/v1/generations", SMALL | {"type": "extend"})
    assert extend.json()["field"] == "source_generation_id"
    words = api.post("/api/v1/generations", SMALL | {"camera_words": "a 300mm lens"})
    assert words.status_code == 422 and words.json()["field"] == "camera_words"
    assert not RenderJob.objects.exists()


def test_insufficient_credits_is_402(seeded) -> None:
    from tests.api.conftest import api_client

    poor = api_client(plan_code="free", credits=0)
    response = poor.post("/api/v1/generations", SMALL | {"quality": "pro", "duration_s": 5})
    assert response.status_code in (201, 402)
    while response.status_code == 201:
        response = poor.post("/api/v1/generations", SMALL | {"quality": "pro", "duration_s": 5})
    assert response.status_code == 402
    assert response.json()["type"] == "urn:dailies:problem:insufficient-credits"


def test_estimate_is_what_a_create_reserves(api) -> None:
    estimate = api.post("/api/v1/credits/estimate", SMALL | {"quality": "pro"}).json()
    created = api.post("/api/v1/generations", SMALL | {"quality": "pro"}).json()
    assert estimate["credits"] == created["credits_estimate"]
    assert estimate["enough"] is True


def test_a_completed_generation_serves_its_files(api) -> None:
    created = api.post("/api/v1/generations", SMALL).json()
    assert execution.render_job_execute(created["id"]) == RenderJob.State.SUCCEEDED
    body = api.get(f"/api/v1/generations/{created['id']}").json()
    assert body["state"] == "completed" and body["progress"] == 100
    assert body["credits_cost"] == body["credits_estimate"]
    video = api.client.get(body["assets"]["video"], headers=api._headers(None))
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"ftyp" in b"".join(video.streaming_content)[:64]
    assert api.client.get(body["assets"]["video"]).status_code == 401

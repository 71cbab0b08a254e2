"""A generation made through the API is the studio's own: same recipe, same cost, and it
shows on the studio's pages."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import RenderJob
from storyboards import services as storyboards
from tests.api.conftest import api_client

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "a yellow ball bounces on a checker floor"


def test_an_api_generation_matches_a_page_render_and_shows_in_the_studio(seeded) -> None:
    api = api_client()
    browser = Client()
    browser.force_login(api.owner)
    project = storyboards.project_create(team=api.team, user=api.owner, name="Parity")
    page = browser.post(
        f"/projects/{project.pk}/shots/new/",
        {
            "title": "Parity",
            "prompt": PROMPT,
            "mode": "t2v",
            "quality": "pro",
            "resolution": 720,
            "duration_s": 4,
            "fps": 24,
            "seed_mode": "fixed",
            "seed": 11,
            "variants": 1,
            "focal_mm": 50,
            "aperture": 2.8,
            "shutter_deg": 180,
            "aspect": "16:9",
            "interpolation": "smooth",
            "move_1": "dolly:in",
            "move_1_speed": 0.5,
            "move_1_easing": "ease_in_out",
            "action": "render",
            "idempotency_key": "page-1",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    by_page = RenderJob.objects.get(batch__idempotency_key="page-1")
    created = api.post(
        "/api/v1/generations",
        {
            "prompt": PROMPT,
            "quality": "pro",
            "resolution": 720,
            "duration_s": 4,
            "fps": 24,
            "seed": 11,
            "aspect": "16:9",
            "camera": {
                "focal_mm": 50,
                "aperture": 2.8,
                "moves": [
                    {"kind": "dolly", "direction": "in", "speed": 0.5, "easing": "ease_in_out"}
                ],
            },
        },
    )
    assert created.status_code == 201, created.content
    by_api = RenderJob.objects.get(pk=created.json()["id"])
    assert by_api.recipe == by_page.recipe
    assert by_api.estimate_credits == by_page.estimate_credits
    assert by_api.reservation.credits == by_page.reservation.credits
    assert created.json()["recipe"] == by_page.recipe
    # The studio lists it and opens it like any render.
    listing = browser.get("/renders/").content.decode()
    assert f"/renders/{by_api.pk}/" in listing
    detail = browser.get(f"/renders/{by_api.pk}/")
    assert detail.status_code == 200 and PROMPT in detail.content.decode()

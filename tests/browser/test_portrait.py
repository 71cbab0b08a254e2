"""A 9:16 take on a desktop screen: its dashboard card and its take card are no taller than
a 16:9 take's, and the shot page and the render's page play it at a useful height without a
wide black box."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest

from accounts.models import User
from billing import ledger
from generation.models import RenderJob
from storyboards import services as storyboards
from storyboards.models import Project, Shot
from tests.browser.test_studio import _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_S = 180
VIEWPORT = {"width": 1440, "height": 900}
BOX = "(sel) => { const b = document.querySelector(sel).getBoundingClientRect(); return {w: b.width, h: b.height}; }"


def _rendered_shot(user: User, small_request, aspect: str) -> Shot:
    """A project whose one shot has a finished take at ``aspect``, by the stack's worker."""
    team = user.teams.get()
    project = storyboards.project_create(team=team, user=user, name=f"At {aspect}")
    request = replace(small_request, camera=replace(small_request.camera, aspect=aspect))
    shot, jobs = storyboards.shot_render(
        project=project,
        shot=None,
        user=user,
        request=request,
        fields={"title": aspect, "prompt": request.prompt, "duration_s": 2, "aspect": aspect},
    )
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while RenderJob.objects.get(pk=jobs[0].pk).state != RenderJob.State.SUCCEEDED:
        assert time.monotonic() < deadline, RenderJob.objects.get(pk=jobs[0].pk).error_message
        time.sleep(0.5)
    return Shot.objects.select_related("project").get(pk=shot.pk)


def test_a_portrait_take_is_no_taller_than_a_wide_one(
    seeded, studio_stack, browser, screenshot, small_request
) -> None:
    base = f"http://127.0.0.1:{studio_stack.port}"
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        email = f"portrait-{uuid.uuid4().hex[:6]}@example.com"
        _sign_up(page, base, email)
        user = User.objects.get(email=email)
        ledger.topup(team=user.teams.get(), credits=50)
        tall = _rendered_shot(user, small_request, "9:16")
        wide = _rendered_shot(user, small_request, "16:9")
        assert Project.objects.filter(team__memberships__user=user).count() == 2

        # The dashboard: both cards show their poster, at the same height.
        page.goto(base + "/")
        page.wait_for_load_state("networkidle")
        for shot in (tall, wide):
            page.wait_for_function(
                f"document.querySelector('#project-{shot.project_id} img')?.complete"
            )
        cards = {s.aspect: page.evaluate(BOX, f"#project-{s.project_id}") for s in (tall, wide)}
        screenshot(page, "portrait-dashboard")
        assert cards["9:16"]["h"] <= 1.1 * cards["16:9"]["h"], cards

        # The shot page: the player is about as tall as the screen allows, and about as
        # wide as the take, not a strip in the middle of a black box.
        takes = {}
        for shot in (tall, wide):
            page.goto(f"{base}/shots/{shot.pk}/")
            page.wait_for_load_state("networkidle")
            page.wait_for_function("document.querySelector('.player-frame video')?.readyState >= 1")
            video = page.evaluate(BOX, ".player-frame video")
            takes[shot.aspect] = page.evaluate(BOX, ".take-card")
            if shot is tall:
                screenshot(page, "portrait-shot")
                assert video["h"] >= 0.5 * VIEWPORT["height"], video
                assert video["w"] <= 1.15 * video["h"] * 9 / 16, video
        # Its take card is no taller than a wide take's.
        assert takes["9:16"]["h"] <= 1.1 * takes["16:9"]["h"], takes

        # The render's own page: the player is as wide as the take, not as its card.
        page.goto(f"{base}/renders/{tall.current_job_id}/")
        page.wait_for_function("document.querySelector('video.player')?.readyState >= 1")
        video = page.evaluate(BOX, "video.player")
        screenshot(page, "portrait-render")
        assert video["h"] >= 0.5 * VIEWPORT["height"], video
        assert video["w"] <= 1.15 * video["h"] * 9 / 16, video
    finally:
        context.close()

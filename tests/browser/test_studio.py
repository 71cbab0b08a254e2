"""The studio in real Chromium: sign up, compose a 35 mm f/2 dolly-in, watch it render over
the websocket, play it, pay for it exactly; reorder; the Free plan's limits; at 375 px too."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from billing import pricing
from generation.models import RenderJob
from storyboards.models import Project, Shot

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 120_000
PROMPT = "a white lighthouse on a cliff at dusk, slow push-in, 35mm f/2, 16:9"

# Every status partial the websocket delivers, as htmx-ext-ws hands it over.
RECORD_UPDATES = """
window.__updates = [];
document.addEventListener("htmx:wsAfterMessage", (e) => {
  const m = /data-state="(\\w+)" data-step="(\\d+)" data-total="(\\d+)"/.exec(e.detail.message);
  if (m) window.__updates.push({state: m[1], step: +m[2], total: +m[3]});
});
"""


HTMX_IDLE = "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"


def _credits(page) -> int:
    return int(page.locator("#credits-badge [data-credits]").get_attribute("data-credits"))


def _sign_up(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_display_name", "Ada")
    page.fill("#id_password", "lighthouse-keeper-42")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/accounts/signup/sent/")
    # The link the sign-up mails (the test shares the server's database and signing key).
    user = User.objects.get(email=email)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    page.goto(f"{base}/accounts/signup/confirm/{uid}/{token}/")
    page.wait_for_url(f"{base}/")


def _create_project(page, base: str, name: str) -> int:
    page.fill("#project-create input[name=name]", name)
    page.click("#project-create button[type=submit]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    return int(re.search(r"/projects/(\d+)/", page.url)[1])


def _open_composer(page) -> None:
    page.click("text=New shot")
    page.wait_for_url(re.compile(r"/shots/new/$"))
    page.wait_for_load_state("networkidle")


def _compose_dolly_in(page, screenshot, prefix: str) -> int:
    """Type the prompt, accept its chips into the camera panel, check the panel, render.
    Returns the estimate the composer showed."""
    _open_composer(page)
    page.fill("#id_title", "Lighthouse push-in")
    page.locator("#id_prompt").press_sequentially(PROMPT[-30:], delay=5)
    page.fill("#id_prompt", PROMPT)
    page.locator("#id_prompt").press("End")
    page.locator("#id_prompt").press("Space")
    page.wait_for_function("document.querySelectorAll('#chips [data-chip]').length >= 4")
    labels = page.locator("#chips .chip-label").all_inner_texts()
    assert {"dolly in · slow", "35 mm", "f/2", "16:9"} <= set(labels), labels
    page.click("[data-chip-accept-all]")
    assert page.input_value("#id_focal_mm") == "35"
    assert page.input_value("#id_aperture") == "2"
    assert page.input_value("#id_move_1") == "dolly:in"
    assert page.input_value("#id_move_1_speed") == "0.5"
    assert page.is_checked("input[name=aspect][value='16:9']")
    page.select_option("#id_fps", "12")
    # Pro and 5 s: over a second of sampling on the tiny model, so the page's socket is
    # open long before the last step and the bar can be watched advancing.
    page.check("input[name=quality][value=pro]")
    page.fill("#id_duration_s", "5")
    page.locator("#id_duration_s").dispatch_event("change")
    # The live estimate follows the settings: wait for the price of exactly this request.
    expected = pricing.estimate(duration_s=5, resolution=540, quality="pro").credits
    page.wait_for_function(
        "document.querySelector('#estimate [data-estimate-credits]')"
        f"?.dataset.estimateCredits === '{expected}'"
    )
    page.wait_for_load_state("networkidle")
    estimate = int(page.get_attribute("#estimate [data-estimate-credits]", "data-estimate-credits"))
    screenshot(page, f"{prefix}-composer")
    page.click("button[name=action][value=render]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    return estimate


def _watch_render(page, shot: Shot) -> RenderJob:
    job = RenderJob.objects.get(shot=shot)
    page.wait_for_function(
        "window.__updates.some(u => u.state === 'succeeded')", timeout=RENDER_TIMEOUT_MS
    )
    updates = page.evaluate("window.__updates")
    running = [u["step"] for u in updates if u["state"] == "running" and u["step"] > 0]
    assert running, f"no progress arrived over the websocket: {updates}"
    assert running == sorted(running), f"progress went backwards: {running}"
    assert any(0 < u["step"] < u["total"] for u in updates if u["state"] == "running"), updates
    # The pushed partial landed in the card (the card shows the finished video).
    page.wait_for_selector(f"#job-{job.pk}-status[data-state=succeeded] video")
    return job


def _check_player(page, job: RenderJob) -> None:
    page.wait_for_selector(f"#job-{job.pk}-status video")
    page.wait_for_function(f"document.querySelector('#job-{job.pk}-status video').readyState >= 1")
    page.evaluate(f"document.querySelector('#job-{job.pk}-status video').muted = true")
    page.evaluate(f"document.querySelector('#job-{job.pk}-status video').play()")
    page.wait_for_function(
        f"document.querySelector('#job-{job.pk}-status video').currentTime > 0.3", timeout=60_000
    )
    video = page.evaluate(
        f"""(() => {{ const v = document.querySelector('#job-{job.pk}-status video');
        return {{duration: v.duration, w: v.videoWidth, h: v.videoHeight, loop: v.loop}}; }})()"""
    )
    assert abs(video["duration"] - 5.0) < 0.2, video
    assert abs(video["w"] / video["h"] - 16 / 9) < 0.02, video
    assert video["loop"]
    # Frame step: pause, one frame forward lands on the next frame at 12 fps.
    page.click("[data-transport] [data-step='-1']")
    before = page.evaluate(f"document.querySelector('#job-{job.pk}-status video').currentTime")
    page.click("[data-transport] [data-step='1']")
    page.wait_for_function(
        f"Math.abs(document.querySelector('#job-{job.pk}-status video').currentTime - {before}) > 0.05"
    )


def _flow(page, base: str, screenshot, prefix: str) -> None:
    _sign_up(page, base, f"{prefix}-{uuid.uuid4().hex[:6]}@example.com")
    screenshot(page, f"{prefix}-dashboard-empty")
    project_id = _create_project(page, base, "Lighthouse teaser")
    screenshot(page, f"{prefix}-project-empty")
    before = _credits(page)

    # Free plan lock-out: 1080p is offered but disabled, and too long a clip is named.
    _open_composer(page)
    assert page.locator("#id_resolution option[value='1080']").is_disabled()
    assert "Free plan: up to 720p and 5 s" in page.inner_text("#composer")
    page.fill("#id_duration_s", "8")
    page.locator("#id_duration_s").dispatch_event("change")
    page.wait_for_function(
        "document.querySelector('#limit-duration_s').textContent.includes('upgrade')"
    )
    screenshot(page, f"{prefix}-composer-plan-limit")
    page.go_back()
    page.wait_for_load_state("networkidle")

    estimate = _compose_dolly_in(page, screenshot, prefix)
    shot = Shot.objects.get(project_id=project_id)
    assert shot.camera.focal_mm == 35 and shot.camera.aperture == 2
    assert [m.label for m in shot.camera.moves] == ["dolly in"]
    job = _watch_render(page, shot)
    assert job.estimate_credits == estimate
    page.wait_for_function(
        f"+document.querySelector('#credits-badge [data-credits]').dataset.credits === {before - estimate}",
        timeout=60_000,
    )
    screenshot(page, f"{prefix}-project-rendered")

    page.click(f"#shot-{shot.pk} .shot-title")
    page.wait_for_url(re.compile(r"/shots/\d+/"))
    _check_player(page, job)
    screenshot(page, f"{prefix}-shot")

    # Reorder: duplicate, then move the copy first with the keyboard.
    page.goto(f"{base}/projects/{project_id}/")
    page.click(f"#shot-{shot.pk} button[title=Duplicate]")
    page.wait_for_function("document.querySelectorAll('#timeline [data-shot-id]').length === 2")
    # Once the swap settles, the studio gives focus back to the card whose button was
    # pressed: focus the copy only after that, or the key goes to the wrong card.
    page.wait_for_function(HTMX_IDLE)
    copy = Shot.objects.exclude(pk=shot.pk).get(project_id=project_id)
    page.focus(f"#shot-{copy.pk}")
    page.keyboard.press("Alt+ArrowLeft")
    page.wait_for_function(
        f"document.querySelector('#timeline [data-shot-id]').dataset.shotId === '{copy.pk}'"
    )
    page.wait_for_function(HTMX_IDLE)
    assert page.evaluate("document.activeElement.id") == f"shot-{copy.pk}"
    assert list(
        Project.objects.get(pk=project_id).shots.order_by("position").values_list("pk", flat=True)
    ) == [copy.pk, shot.pk]
    screenshot(page, f"{prefix}-project-reordered")
    page.goto(f"{base}/")
    screenshot(page, f"{prefix}-dashboard")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize(
    ("prefix", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("mobile", {"width": 375, "height": 812})],
)
def test_studio_flow(seeded, studio_stack, browser, screenshot, prefix, viewport) -> None:
    base = f"http://127.0.0.1:{studio_stack.port}"
    context = browser.new_context(
        # Playwright compiles wait_for_function's predicate in the page, which the CSP
        # forbids; test_pages.py checks the policy without this.
        viewport=viewport,
        device_scale_factor=1,
        bypass_csp=True,
    )
    context.add_init_script(RECORD_UPDATES)
    page = context.new_page()
    # Steps wait on a real worker and daphne: give a loaded machine time before calling it
    # a failure (a passing run is unaffected).
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _flow(page, base, screenshot, prefix)
    except Exception:
        screenshot(page, f"{prefix}-failure")
        raise
    finally:
        context.close()
    assert not errors, errors

"""Every page in Chromium at 375 px, under the real Content-Security-Policy: no page is
wider than the screen, and no script, style or socket is refused by the policy."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from billing import ledger
from storyboards import services as storyboards
from tests.browser.test_studio import _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# How wide the page is, and the element that sticks out furthest when it is too wide.
MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  let widest = null, right = width;
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > right + 0.5) { right = box.right; widest = el; }
  }
  const name = widest ? widest.tagName.toLowerCase() + (widest.id ? "#" + widest.id : "")
    + (widest.className && typeof widest.className === "string" ? "." + widest.className.trim().split(/\\s+/).join(".") : "") : "";
  return {scroll: document.documentElement.scrollWidth, width, widest: name, right};
}"""


def _pages(base: str, user: User) -> list[str]:
    team = user.teams.get()
    project = team.projects.get()
    shot = project.shots.get()
    job = shot.jobs.first()
    return [
        "/",
        "/?archived=1",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/shots/new/",
        f"/shots/{shot.pk}/",
        f"/shots/{shot.pk}/edit/",
        "/renders/",
        f"/renders/{job.pk}/",
        "/teams/",
        f"/teams/{team.pk}/",
        "/plans/",
        "/api/v1/docs",
    ]


PUBLIC = ["/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/plans/"]


def test_every_page_fits_375_px_and_keeps_the_policy(
    seeded, studio_stack, browser, screenshot, small_request
) -> None:
    base = f"http://127.0.0.1:{studio_stack.port}"
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(f"{page.url}: {msg.text}")
        if "Content Security Policy" in msg.text
        else None,
    )
    page.on("pageerror", lambda exc: refused.append(f"{page.url}: {exc}"))
    too_wide: list[str] = []
    try:
        for path in PUBLIC:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            m = page.evaluate(MEASURE)
            if m["scroll"] > m["width"]:
                too_wide.append(f"{path}: {m['scroll']} px ({m['widest']} to {m['right']:.0f})")
        email = f"narrow-{uuid.uuid4().hex[:6]}@example.com"
        _sign_up(page, base, email)
        user = User.objects.get(email=email)
        team = user.teams.get()
        ledger.topup(team=team, credits=50)
        project = storyboards.project_create(
            team=team, user=user, name="A long project name that wraps"
        )
        storyboards.shot_render(
            project=project,
            shot=None,
            user=user,
            request=small_request,
            fields={"title": "Opening", "prompt": small_request.prompt, "duration_s": 2},
        )
        for path in _pages(base, user):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            m = page.evaluate(MEASURE)
            if m["scroll"] > m["width"]:
                too_wide.append(f"{path}: {m['scroll']} px ({m['widest']} to {m['right']:.0f})")
                screenshot(page, "narrow-" + path.strip("/").replace("/", "-").replace("?", "-"))
    finally:
        context.close()
    assert not too_wide + refused, "\n".join(too_wide + refused)

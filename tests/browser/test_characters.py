"""Character lock in real Chromium: a rendered take's frame, a box dragged around the figure,
the training's progress on the character page, then ``@Name`` completed in the composer for
two new shots whose takes render with the adapter; at desktop size and at 375 px."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from accounts.models import User
from characters.models import Character, CharacterAdapter
from generation.engine.camera import CameraSpec
from generation.models import RenderJob
from generation.requests import RenderRequest
from generation.vocabulary import Quality
from storyboards import services
from storyboards.models import Project
from tests.browser.test_studio import _sign_up
from tests.stack import StackProcesses, stack_env, stack_processes

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 180_000
STEPS = 40


@pytest.fixture(scope="module")
def stack(
    redis_server, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    """daphne and a GPU worker whose character trainings are short enough to watch."""
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("character-browser-media"),
        DEBUG="1",
        OMP_NUM_THREADS="1",
        DAILIES_CHARACTER_STEPS=str(STEPS),
    )
    with stack_processes(env) as procs:
        procs.start_web()
        procs.start_worker()
        yield procs


def _rendered_shot(page, base: str, email: str) -> tuple[Project, RenderJob]:
    page.fill("#project-create input[name=name]", "Pilot")
    page.click("#project-create button[type=submit]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get(pk=int(re.search(r"/projects/(\d+)/", page.url)[1]))
    request = RenderRequest(
        prompt="a figure in a red shirt on a beach",
        quality=Quality.FLASH,
        resolution=540,
        duration_s=1,
        fps=12,
        seed=4,
        camera=CameraSpec(),
    )
    fields = {"title": "Beach", "prompt": request.prompt, "duration_s": 1, "fps": 12}
    shot, jobs = services.shot_render(
        project=project,
        shot=None,
        user=User.objects.get(email=email),
        request=request,
        fields=fields | {"resolution": 540, "quality": "flash"},
    )
    page.goto(f"{base}/shots/{shot.pk}/")
    page.wait_for_selector(f"#job-{jobs[0].pk}-status video", timeout=TIMEOUT_MS)
    page.reload()  # the lock form is offered on a finished take's page
    return project, jobs[0]


def _lock_from_take(page, take: RenderJob) -> Character:
    page.click("details.lock-take summary")
    page.wait_for_function(f"document.querySelector('#job-{take.pk}-status video').readyState >= 2")
    page.click("[data-lock-grab]")
    canvas = page.locator("[data-lock-still]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 50, box
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.9, steps=5)
    page.mouse.up()
    assert page.is_visible("[data-lock-box]")
    w = int(page.input_value("form[data-lock-take] input[name=w]"))
    h = int(page.input_value("form[data-lock-take] input[name=h]"))
    # Drawn on the frame as shown, stored in the video's own pixels (960×540).
    assert abs(w - 288) <= 12 and abs(h - 378) <= 12, (w, h)
    page.fill("form[data-lock-take] input[name=name]", "Mara")
    page.click("form[data-lock-take] button[type=submit]")
    page.wait_for_url(re.compile(r"/characters/\d+/$"))
    return Character.objects.get(pk=int(re.search(r"/characters/(\d+)/", page.url)[1]))


def _composer_shot(page, base: str, project: Project, typed: str, rest: str) -> RenderJob:
    page.goto(f"{base}/projects/{project.pk}/shots/new/")
    page.wait_for_load_state("networkidle")
    prompt = page.locator("#id_prompt")
    prompt.click()
    prompt.press_sequentially(typed, delay=30)
    page.wait_for_selector("#mention-list li[data-name=Mara]")
    prompt.press("Enter")
    assert prompt.input_value() == "@Mara "
    prompt.press_sequentially(rest, delay=5)
    before = set(RenderJob.objects.filter(shot__project=project).values_list("pk", flat=True))
    page.click("button[data-render-button]")
    page.wait_for_url(re.compile(rf"/projects/{project.pk}/$"))
    new = RenderJob.objects.filter(shot__project=project).exclude(pk__in=before)
    assert new.count() == 1
    return new.get()


def _flow(page, base: str, screenshot, prefix: str) -> None:
    email = f"ch-{uuid.uuid4().hex[:8]}@example.com"
    _sign_up(page, base, email)
    project, take = _rendered_shot(page, base, email)
    screenshot(page, f"{prefix}-character-shot")
    character = _lock_from_take(page, take)
    adapter = character.adapters.get()
    # Training progress arrives on the page (websocket, or the polling fallback).
    status = f"#adapter-{adapter.pk}-status"
    page.wait_for_selector(f"{status}[data-state=training]", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"Number(document.querySelector('{status}')?.dataset.step || 0) >= 1",
        timeout=TIMEOUT_MS,
    )
    assert "step" in page.inner_text(status) and page.is_visible(f"{status} .progress")
    screenshot(page, f"{prefix}-character-training")
    page.wait_for_selector(f"{status}[data-state=ready]", timeout=TIMEOUT_MS)
    adapter.refresh_from_db()
    assert adapter.state == CharacterAdapter.State.READY
    screenshot(page, f"{prefix}-character-ready")

    jobs = [
        _composer_shot(page, base, project, "@Ma", "walks along the beach"),
        _composer_shot(page, base, project, "@Ma", "looks at the sea at dusk"),
    ]
    for job in jobs:
        assert job.recipe["adapters"][0]["sha256"] == adapter.sha256
        assert job.recipe["characters"][0]["name"] == "Mara"
    page.goto(f"{base}/characters/{character.pk}/")
    text = page.inner_text("main")
    assert "Takes with @Mara" in text and str(jobs[0].pk) in text
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"
    screenshot(page, f"{prefix}-character-page")


@pytest.mark.parametrize(
    ("prefix", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("mobile", {"width": 375, "height": 812})],
)
def test_character_lock_flow(
    seeded, stack, browser, screenshot, prefix, viewport, settings
) -> None:
    base = f"http://127.0.0.1:{stack.port}"
    settings.MEDIA_ROOT = stack.env["MEDIA_ROOT"]
    context = browser.new_context(viewport=viewport, device_scale_factor=1, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _flow(page, base, screenshot, prefix)
    except Exception:
        screenshot(page, f"{prefix}-character-failure")
        raise
    finally:
        context.close()
    assert not errors, errors

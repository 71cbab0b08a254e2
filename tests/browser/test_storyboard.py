"""A storyboard in real Chromium: three shots, a crossfade and a continuation set on the
timeline, rendered at once, played through with the playing shot highlighted, scrubbed,
exported over the socket and downloaded; at desktop size and at 375 px."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from storyboards import services
from storyboards.models import Project, Shot, StoryboardExport, Transition
from tests.browser.test_studio import _sign_up
from tests.stack import StackProcesses

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 180_000
SHOT = {
    "duration_s": 2, "fps": 12, "resolution": 540, "quality": "flash",
    "camera": CameraSpec(focal_mm=35, moves=(CameraMove.make("dolly", "in"),)),
}  # fmt: skip
PLAYER = "document.querySelector('[data-storyboard-player]')"


@pytest.fixture(scope="module")
def stack(studio_stack: StackProcesses) -> Iterator[StackProcesses]:
    """The studio stack with a worker of the default queue too: exports run there."""
    studio_stack.start_worker(queue="default")
    yield studio_stack


def _storyboard(page, base: str) -> Project:
    page.fill("#project-create input[name=name]", "Coast")
    page.click("#project-create button[type=submit]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get(pk=int(re.search(r"/projects/(\d+)/", page.url)[1]))
    for title, prompt in (
        ("Ball", "a red ball on a checker floor"),
        ("Lighthouse", "a lighthouse on a cliff"),
        ("Lamp", "the lighthouse lamp turns"),
    ):
        services.shot_create(project=project, fields=SHOT | {"title": title, "prompt": prompt})
    page.reload()
    return project


def _set_transition(page, shot: Shot, value: str, seconds: str | None = None) -> None:
    card = f"#shot-{shot.pk}"
    page.select_option(f"{card} [data-transition-select]", value)
    if seconds is not None:
        page.fill(f"{card} input[name=seconds]", seconds)
    page.click(f"{card} [data-transition-set]")
    page.wait_for_function(f"document.querySelector('{card}')?.dataset.transition === '{value}'")


def _flow(page, base: str, screenshot, prefix: str, downloads: Path) -> None:
    _sign_up(page, base, f"sb-{uuid.uuid4().hex[:8]}@example.com")
    project = _storyboard(page, base)
    shots = list(project.shots.order_by("position"))
    _set_transition(page, shots[1], "crossfade", "0.5")
    _set_transition(page, shots[2], "continue")
    assert "Starts from shot 2" in page.inner_text(f"#shot-{shots[2].pk}")
    assert [s.transition for s in project.shots.order_by("position")] == [
        Transition.CUT, Transition.CROSSFADE, Transition.CONTINUE,
    ]  # fmt: skip
    # The estimate names the count and the cost before anything is reserved.
    estimate = services.storyboard_estimate(project=project)
    text = page.inner_text("[data-render-estimate]")
    assert "3 shots to render" in text and f"{estimate.credits} credits" in text, text
    assert not RenderJob.objects.filter(team=project.team).exists()
    screenshot(page, f"{prefix}-storyboard-set")

    page.click("[data-render-storyboard]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    jobs = list(RenderJob.objects.filter(shot__project=project).order_by("pk"))
    assert [j.shot_id for j in jobs] == [s.pk for s in shots]
    assert jobs[2].mode == "extend" and jobs[2].source_job_id == jobs[1].pk
    # The takes arrive over the socket; the timeline refetches and the player gets them.
    page.wait_for_function(
        "document.querySelectorAll('#timeline [data-shot-id][data-src]').length === 3",
        timeout=RENDER_TIMEOUT_MS,
    )
    page.wait_for_function(f"!{PLAYER}.hidden")
    assert "Every shot is up to date" in page.inner_text("[data-render-estimate]")
    screenshot(page, f"{prefix}-storyboard-rendered")

    # Play it through: each shot is highlighted in turn, and the film ends.
    total = float(page.evaluate(f"{PLAYER}.dataset.total"))
    assert abs(total - (2 + 2 + 2 - 0.5)) < 0.01, total
    page.click("[data-sb-play]")
    for number, shot in enumerate(shots, start=1):
        page.wait_for_function(f"{PLAYER}.dataset.playing === '{number}'", timeout=20_000)
        assert page.evaluate(
            f"document.querySelector('#shot-{shot.pk}').classList.contains('is-playing')"
        )
    page.wait_for_function(
        "document.querySelector('video[data-layer=a]').readyState >= 2", timeout=20_000
    )
    page.wait_for_function(f"{PLAYER}.dataset.ended === '1'", timeout=20_000)
    # Scrub into the middle of shot 2, then into the continuation.
    page.fill("[data-sb-scrub]", "500")
    page.wait_for_function(f"{PLAYER}.dataset.playing === '2'")
    page.fill("[data-sb-scrub]", "900")
    page.wait_for_function(f"{PLAYER}.dataset.playing === '3'")
    assert page.evaluate(f"document.querySelector('#shot-{shots[2].pk}').ariaCurrent") == "true"

    # Export: progress over the socket, then the downloads.
    page.click("[data-export]")
    page.wait_for_selector("[data-export-state]")
    page.wait_for_selector(
        "[data-export-state=succeeded] [data-download=video]", timeout=RENDER_TIMEOUT_MS
    )
    export = StoryboardExport.objects.get(project=project)
    assert export.state == StoryboardExport.State.SUCCEEDED
    screenshot(page, f"{prefix}-storyboard-exported")
    with page.expect_download() as info:
        page.click("[data-export-state=succeeded] [data-download=video]")
    path = downloads / f"{prefix}.mp4"
    info.value.save_as(path)
    frames, fps = decode_video(path)
    assert fps == project.fps and abs(len(frames) / fps - 5.5) <= 1 / fps
    with page.expect_download() as info:
        page.click("[data-export-state=succeeded] [data-download=timeline]")
    assert info.value.suggested_filename.endswith(".otio")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize(
    ("prefix", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("mobile", {"width": 375, "height": 812})],
)
def test_storyboard_flow(seeded, stack, browser, screenshot, tmp_path, prefix, viewport) -> None:
    base = f"http://127.0.0.1:{stack.port}"
    # bypass_csp: Playwright's wait_for_function evaluates a string, which the policy forbids;
    # test_pages.py checks the policy itself on the project page.
    context = browser.new_context(
        viewport=viewport, device_scale_factor=1, accept_downloads=True, bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _flow(page, base, screenshot, prefix, tmp_path)
    except Exception:
        screenshot(page, f"{prefix}-storyboard-failure")
        raise
    finally:
        context.close()
    assert not errors, errors

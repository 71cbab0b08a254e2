"""A character trains while the composer is open, in real Chromium: its chip is disabled
and says how far the training is, the training's progress moves under the picker, and
when it finishes the chip becomes selectable without a reload, even when the first refresh
is lost to the network; at desktop size and at 375 px."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from accounts.models import User
from characters import services
from characters.models import Character, CharacterAdapter
from generation.uploads import frame_from_bytes
from tests.browser.test_studio import _create_project, _sign_up
from tests.characters.conftest import png
from tests.stack import StackProcesses, stack_env, stack_processes

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 180_000
STEPS = 150


@pytest.fixture(scope="module")
def stack(
    redis_server, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    """daphne and a GPU worker whose trainings last long enough to watch them move."""
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("composer-training-media"),
        DEBUG="1",
        OMP_NUM_THREADS="1",
        DAILIES_CHARACTER_STEPS=str(STEPS),
    )
    with stack_processes(env) as procs:
        procs.start_web()
        procs.start_worker()
        yield procs


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _flow(page, base: str, screenshot, prefix: str) -> None:
    email = f"ct-{uuid.uuid4().hex[:8]}@example.com"
    _sign_up(page, base, email)
    project_id = _create_project(page, base, "Pilot")
    user = User.objects.get(email=email)
    frame = frame_from_bytes(png((200, 30, 30)).read(), name="mara.png")
    character = services.character_lock_from_uploads(
        team=user.memberships.get().team, user=user, name="Mara", images=[frame]
    )
    adapter = character.adapters.get()

    # The network drops just as the training ends: the picker's first refresh fails, and the
    # composer tries again rather than leaving the chip disabled until a reload.
    refreshes: list[str] = []

    def fail_first_refresh(route) -> None:
        refreshes.append(route.request.url)
        if len(refreshes) == 1:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route(re.compile(r"/shots/characters/"), fail_first_refresh)
    page.goto(f"{base}/projects/{project_id}/shots/new/")
    chip = f"[data-character-chip='{character.pk}']"
    box = f"{chip} input[name=characters]"
    status = f"#adapter-{adapter.pk}-status"
    assert page.is_disabled(box), "a character still training can be picked"
    assert re.search(r"queued|training — \d+ %", page.inner_text(chip)), page.inner_text(chip)
    assert page.is_visible(f"#character-picker {status}")

    # The progress moves under the picker (websocket, or the polling fallback), and the
    # chip follows it.
    page.wait_for_selector(f"{status}[data-state=training]", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"Number(document.querySelector('{status}')?.dataset.step || 0) >= 1",
        timeout=TIMEOUT_MS,
    )
    first = int(page.get_attribute(status, "data-step") or 0)
    page.wait_for_function(
        f"Number(document.querySelector('{status}')?.dataset.step || 0) > {first}",
        timeout=TIMEOUT_MS,
    )
    text = page.inner_text(status)
    assert "step" in text or "Ready" in text, text
    if page.get_attribute(status, "data-state") == "training":
        assert re.search(r"training — \d+ %", page.inner_text(chip)), page.inner_text(chip)
        assert page.is_disabled(box)
        assert _overflow(page) <= 1, f"the composer scrolls sideways by {_overflow(page)}px"
        screenshot(page, f"{prefix}-composer-character-training")

    # Finished: the chip can be picked, without a reload, and the estimate takes it.
    page.wait_for_selector(f"{box}:not([disabled])", timeout=TIMEOUT_MS)
    assert len(refreshes) >= 2, refreshes
    adapter.refresh_from_db()
    assert adapter.state == CharacterAdapter.State.READY
    assert page.get_attribute(status, "data-state") == "ready"
    assert "training" not in page.inner_text(chip)
    page.check(box)
    assert page.is_checked(box)
    page.wait_for_selector("#estimate [data-estimate-credits]")
    assert "Can’t render this yet" not in page.inner_text("#estimate")
    assert _overflow(page) <= 1, f"the composer scrolls sideways by {_overflow(page)}px"
    screenshot(page, f"{prefix}-composer-character-ready")
    assert Character.objects.get(pk=character.pk).current_adapter_id == adapter.pk


@pytest.mark.parametrize(
    ("prefix", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("mobile", {"width": 375, "height": 812})],
)
def test_a_character_trains_while_the_composer_is_open(
    seeded, stack, browser, screenshot, prefix, viewport, settings
) -> None:
    base = f"http://127.0.0.1:{stack.port}"
    settings.MEDIA_ROOT = stack.env["MEDIA_ROOT"]
    # bypass_csp: wait_for_function evaluates a string, which the policy forbids.
    context = browser.new_context(viewport=viewport, device_scale_factor=1, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _flow(page, base, screenshot, prefix)
    except Exception:
        screenshot(page, f"{prefix}-composer-training-failure")
        raise
    finally:
        context.close()
    assert not errors, errors

"""Real Chromium against the real stack: daphne and a Celery worker on the test database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import StackProcesses, stack_env, stack_processes

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which(CHROMIUM) and _playwright_importable():
        return
    skip = pytest.mark.skip(reason=f"needs Debian's Chromium at {CHROMIUM} and playwright")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _playwright_importable() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def studio_stack(
    redis_server: str, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    """daphne and one GPU-queue worker. DEBUG serves the static files (htmx, the studio
    CSS and JS) through whitenoise's finders, as ``./dailies run`` does."""
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("browser-media"),
        DEBUG="1",
    )
    with stack_processes(env) as procs:
        procs.start_web()
        procs.start_worker()
        yield procs


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the module's
    # tests run; the ORM calls they make between browser steps are still plain synchronous
    # calls. Only for these tests: elsewhere Django's async-safety check stays on.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        # From the top: a full-page capture of a scrolled page draws the sticky bars mid-page.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take

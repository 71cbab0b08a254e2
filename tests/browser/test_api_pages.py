"""The team page's API keys and webhooks, and the API's docs page, in Chromium at desktop
width and at 375 px: a key made in the page works against the live server, and the docs load
from the studio's own static files."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.browser.test_studio import HTMX_IDLE, _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("prefix", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("mobile", {"width": 375, "height": 812})],
)
def test_keys_webhooks_and_docs(
    seeded, studio_stack, browser, screenshot, prefix, viewport
) -> None:
    base = f"http://127.0.0.1:{studio_stack.port}"
    context = browser.new_context(
        # Playwright compiles wait_for_function's predicate in the page, which the CSP
        # forbids; test_pages.py checks the policy without this.
        viewport=viewport,
        device_scale_factor=1,
        bypass_csp=True,
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    requested: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requested.append(request.url))
    try:
        _sign_up(page, base, f"api-{prefix}@example.com")
        page.goto(f"{base}/teams/")
        page.click("table a[href^='/teams/']")
        page.wait_for_selector("#api-keys")
        page.fill("#api-keys input[name=name]", "render farm")
        page.check("#api-keys input[value=render]")
        page.click("#api-keys button[type=submit]")
        page.wait_for_selector("#new-api-key")
        page.wait_for_function(HTMX_IDLE)
        token = page.inner_text("#new-api-key").strip()
        call = urllib.request.Request(
            f"{base}/api/v1/credits", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(call) as answer:
            assert json.load(answer)["plan"] == "Free"
        page.fill("#webhooks input[name=url]", "https://93.184.215.14/hooks/dailies")
        page.click("#webhooks button.btn-primary")
        page.wait_for_function(
            "document.querySelector('#webhooks').textContent.includes('93.184.215.14')"
        )
        page.wait_for_function(HTMX_IDLE)
        screenshot(page, f"{prefix}-team-api")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the team page scrolls sideways by {overflow}px"
        page.reload()
        assert page.locator("#new-api-key").count() == 0  # shown once
        page.goto(f"{base}/api/v1/docs")
        page.wait_for_selector(".swagger-ui .opblock")
        screenshot(page, f"{prefix}-api-docs")
    finally:
        context.close()
    assert not errors, errors
    outside = [url for url in requested if not url.startswith(base)]
    assert not outside, f"the pages fetched from elsewhere: {outside}"

"""HTTPS by default with one switch for plain HTTP, a Content-Security-Policy the pages
keep, and nothing private left in a cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import team_with_owner

ROOT = Path(__file__).resolve().parents[2]


def _manage(tmp_path: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "DAILIES_PLAIN_HTTP")
    }
    env |= {"DAILIES_VAR_DIR": str(tmp_path), "DEBUG": "0", **env_extra}
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )


def test_check_deploy_is_clean_out_of_the_box(tmp_path: Path) -> None:
    out = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_plain_http_is_one_switch(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS)"
    )
    out = _manage(tmp_path, "shell", "-c", code, DAILIES_PLAIN_HTTP="1")
    assert out.stdout.strip().splitlines()[-1].split() == ["False", "False", "False", "0"]
    # The launcher sets it for the embedded stack on http://127.0.0.1.
    assert "DAILIES_PLAIN_HTTP=${DAILIES_PLAIN_HTTP:-1}" in (ROOT / "dailies").read_text()


def test_templates_hold_no_inline_script_the_policy_would_block() -> None:
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        html = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html):
            offenders.append(f"{path.name}: inline <script>")
        if re.search(r"\son[a-z]+=\"", html) or "hx-on" in html or "js:" in html:
            offenders.append(f"{path.name}: inline handler")
        if re.search(r"hx-trigger=\"[^\"]*\[", html):
            offenders.append(f"{path.name}: hx-trigger filter (compiled with eval)")
    assert not offenders


@pytest.mark.django_db
def test_pages_carry_the_policy_and_private_pages_are_not_cached(seeded) -> None:
    team, owner = team_with_owner()
    client = Client()
    client.force_login(owner)
    for url in (reverse("dashboard"), reverse("team_detail", args=[team.pk]), "/api/v1/docs"):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "camera=()" in response["Permissions-Policy"]
        assert response["Cache-Control"] == "private, no-store", url
    # Django's own never_cache says more, and the same.
    login = Client().get(reverse("login"))["Cache-Control"]
    assert "private" in login and "no-store" in login


@pytest.mark.django_db
def test_the_api_docs_page_loads_only_what_the_policy_allows(seeded) -> None:
    html = Client().get("/api/v1/docs").content.decode()
    sources = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert sources and all(src.startswith("/static/") for src in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)

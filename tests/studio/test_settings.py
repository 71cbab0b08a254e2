"""Settings read from the environment reach every process of the stack unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_secret_key_starting_with_a_dollar_sign_is_used_as_given(tmp_path: Path) -> None:
    # The web server and workers get the key through the environment; read any other way, their
    # session signatures would not verify and every signed-in user would be signed out.
    key = "$m%w+yo*vxyffq9gn(q_yxaw(bt+hm9l)e9q9jhe1gd!q6hfba"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "SECRET_KEY": key,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "DAILIES_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == key
    assert not (tmp_path / "secret_key").exists()  # no key of its own was made instead

"""A database made by the first release (one "dailies" app) migrates forward to today's
apps without losing a row: built by that release's own migrations, filled, migrated with
``manage.py migrate``, then read and written with today's code.

On SQLite in the default pass; on PostgreSQL too in the scale-out pass (a scratch database
next to the test database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def scratch_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the test database."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'release-one.sqlite3'}"
        return
    import psycopg

    params = connection.settings_dict
    name = f"{params['NAME']}_release_one_{uuid.uuid4().hex[:8]}"
    host, port, user = params["HOST"] or "127.0.0.1", params["PORT"] or 5432, params["USER"]
    admin = f"host={host} port={port} user={user} dbname=postgres"
    if params.get("PASSWORD"):
        admin += f" password={params['PASSWORD']}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    secret = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    try:
        yield f"postgres://{user}{secret}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_first_release_database_migrates_forward_without_losing_a_row(
    scratch_database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env |= {
        "DATABASE_URL": scratch_database_url,
        "DAILIES_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "release-one-test-key",
        "DJANGO_SETTINGS_MODULE": "tests.studio.legacy.settings",
    }
    assert "built" in _run(["-m", "tests.studio.legacy.build"], env)

    env["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    _run(["manage.py", "migrate", "--noinput"], env)
    report = json.loads(_run(["-m", "tests.studio.legacy.check"], env).splitlines()[-1])

    assert report["password_ok"] and report["can_change_team"]
    assert report["team"] == ["Ada's team", "standard", "owner"]
    assert report["balance"] == [485, 0, 5]
    assert report["ledger_entries"] == 4 and report["ledger_consistent"]
    assert report["reserved_after"] == 3
    assert report["decisions"] == 1
    assert report["jobs"] == [
        # Its idempotency key moved to its batch; its camera came from its recipe.
        {"key": "form-1", "take": 0, "camera": [50.0, "9:16", "pan left"], "shot": "Portrait",
         "artifacts": 1},
        # A camera the spec refuses became the default camera at the job's aspect.
        {"key": "", "take": 0, "camera": [35.0, "9:16", "static"], "shot": "Portrait",
         "artifacts": 0},
    ]  # fmt: skip
    assert report["shots"] == {
        "Portrait": [35.0, "9:16", True],  # an empty camera: the default, at the shot's aspect
        "Wide": [85.0, "2.39:1", False],
    }
    assert report["log_entry"] == ["ada@example.com", "accounts", "team"]
    assert report["dailies_content_types"] == 0
    assert report["old_tables"] == []
    assert {"accounts_user", "accounts_user_user_permissions", "billing_ledgerentry"} <= set(
        report["new_tables"]
    )

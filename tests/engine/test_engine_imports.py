"""``generation.engine`` is plain PyTorch: importing any of its modules pulls in no Django,
Celery or Channels, and none of the studio's apps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNED = [
    "django",
    "celery",
    "channels",
    "accounts",
    "billing",
    "moderation",
    "storyboards",
    "studio",
]

# A fresh interpreter (pytest-django already imported Django into this one) imports each
# module in turn and names the first that brings in a banned package, or a Django-side
# module of generation; one process keeps torch's import to one.
CHECK = """
import importlib, pkgutil, sys
banned = set(sys.argv[1].split(","))
names = sys.argv[2:] or [
    m.name for m in pkgutil.walk_packages(["generation/engine"], prefix="generation.engine.")
]
for name in ["generation.engine", *names]:
    importlib.import_module(name)
    bad = sorted(
        m for m in sys.modules
        if m.split(".")[0] in banned
        or (m.startswith("generation.") and not m.startswith("generation.engine"))
    )
    if bad:
        sys.exit(f"{name} imports {bad[:5]}")
print("imported", len(names) + 1, "engine modules")
"""


def _check(*modules: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHECK, ",".join(BANNED), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_engine_module_imports_without_django_or_the_apps() -> None:
    done = _check()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported")


@pytest.mark.parametrize("intruder", ["django.conf", "generation.vocabulary"])
def test_the_check_names_a_module_that_brings_in_django(intruder: str) -> None:
    # The same check, handed a module that does import Django, fails and says which.
    done = _check("generation.engine.camera", intruder)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{intruder} imports ['django"), done.stderr

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "generation.engine",
    "generation.engine.schedules",
    "generation.engine.sampling",
    "generation.engine.transformer",
    "generation.engine.vae",
    "generation.engine.text",
    "generation.engine.lora",
    "generation.engine.weights",
    "generation.engine.video_io",
    "generation.engine.camera_features",
    "generation.engine.presets",
    "generation.engine.svt_pipeline",
]


def test_engine_modules_import_without_django():
    # A fresh interpreter (pytest-django already imported Django into this one), checked after
    # each import so the offending module is named; one process keeps torch's import to one.
    code = (
        "import importlib, sys\n"
        "banned = {'django', 'celery', 'channels', 'dailies', 'storyboards'}\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in banned)\n"
        "    assert not bad, (name, bad)\n"
        "print('imported', len(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported")


def test_the_check_itself_catches_django():
    code = "import sys, django.conf; assert not any(m.startswith('django') for m in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode != 0

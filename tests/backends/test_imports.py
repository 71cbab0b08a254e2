from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_capabilities_load_no_model_library_and_no_django():
    # The web process reads the matrix; the worker-side modules stay free of Django.
    code = (
        "import sys\n"
        "import generation.backends.catalog\n"
        "assert not any(m.split('.')[0] in {'diffusers', 'transformers', 'peft'} "
        "for m in sys.modules), 'model library imported'\n"
        "import generation.backends.wan, generation.backends.ltx, generation.backends.lora\n"
        "import generation.backends.depth, generation.backends.registry\n"
        "import generation.backends.builtin\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'celery', 'channels', 'dailies', 'storyboards'})\n"
        "assert not bad, bad\n"
        "import os; assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

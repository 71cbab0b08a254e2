"""The worker's backend comes from settings: every DAILIES_* switch reaches it, it is built
once per process, and a process with an unknown backend does not start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from generation import runtime
from generation.backends.builtin import BuiltinBackend

ROOT = Path(__file__).resolve().parents[2]


def test_settings_reach_the_backend(settings, tmp_path: Path) -> None:
    settings.DAILIES_BACKEND = {
        "backend": "ltx-video",
        "models_dir": str(tmp_path),
        "dtype": "float16",
        "cpu_offload": True,
        "vae_tiling": True,
        "resident_pipelines": 1,
        "depth_model": "",
    }
    settings.DAILIES_ENGINE = {**settings.DAILIES_ENGINE, "device": "cuda:1"}
    s = runtime.backend_settings()
    assert (s.backend, s.models_dir, s.device, s.dtype) == (
        "ltx-video", tmp_path, "cuda:1", "float16",
    )  # fmt: skip
    assert s.cpu_offload and s.vae_tiling and s.resident_pipelines == 1 and s.depth_model is None
    assert s.preset == "tiny" and s.weights_dir is None  # the built-in model's, for its depth


def test_the_environment_names_the_backend_and_its_device() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'studio.settings'\n"
        "from django.conf import settings as s\n"
        "print(s.DAILIES_BACKEND['backend'], s.DAILIES_ENGINE['device'], "
        "s.DAILIES_BACKEND['models_dir'], s.DAILIES_BACKEND['cpu_offload'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILIES_")}
    out = {}
    for extra in ({}, {"DAILIES_BACKEND": "wan2.1-1.3b", "DAILIES_MODELS_DIR": "/srv/m",
                       "DAILIES_CPU_OFFLOAD": "1"}):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out[bool(extra)] = done.stdout.split()
    assert out[False][:2] == ["builtin", "cpu"] and out[False][3] == "False"
    assert out[True] == ["wan2.1-1.3b", "cuda", "/srv/m", "True"]


def test_one_backend_per_process_for_the_same_settings(settings) -> None:
    first = runtime.backend()
    assert isinstance(first, BuiltinBackend) and runtime.backend() is first
    assert runtime.load() is first and first._pipeline is not None  # built by load()


def test_the_composer_reads_an_open_weights_backend_without_loading_it(settings) -> None:
    settings.DAILIES_BACKEND = {**settings.DAILIES_BACKEND, "backend": "wan2.1-1.3b"}
    info = runtime.engine_info()
    assert (info.backend, info.title, info.model_version) == (
        "wan2.1-1.3b", "Wan 2.1 1.3B (480p)", "wan2.1-1.3b",
    )  # fmt: skip
    assert info.native_fps == 16.0 and info.max_duration_s == 5  # 81 frames at 16 fps
    assert not info.capabilities.supports("reframe")
    assert "One render makes at most 5 s; longer shots are made by extending." in info.limits


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"backend": "sora"}, "unknown backend 'sora'"), ({"dtype": "int8"}, "dtype must be")],
)
def test_a_process_with_bad_backend_settings_does_not_start(settings, changes, message) -> None:
    settings.DAILIES_BACKEND = {**settings.DAILIES_BACKEND, **changes}
    with pytest.raises(SystemCheckError, match=message):
        call_command("check")

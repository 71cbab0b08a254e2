from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generation.backends.base import BackendSettings
from generation.backends.catalog import BACKENDS
from generation.backends.ltx import LTXBackend
from generation.backends.wan import WanBackend


def settings_for(models_dir: Path, backend: str, **kwargs) -> BackendSettings:
    return BackendSettings(
        backend=backend, models_dir=models_dir, device="cpu", dtype="float32", **kwargs
    )


@pytest.fixture(scope="session")
def wan13(models_dir: Path) -> WanBackend:
    """Wan 2.1 1.3B (text to video + VACE) over the tiny folders."""
    return WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(models_dir, "wan2.1-1.3b"))


@pytest.fixture(scope="session")
def wan14(models_dir: Path) -> WanBackend:
    """Wan 2.1 14B's image-to-video and first-and-last-frame roles over the tiny folders."""
    return WanBackend(BACKENDS["wan2.1-14b"], settings_for(models_dir, "wan2.1-14b"))


@pytest.fixture(scope="session")
def wan22(models_dir: Path) -> WanBackend:
    """Wan 2.2 TI2V 5B: one folder for text and image to video."""
    return WanBackend(BACKENDS["wan2.2-5b"], settings_for(models_dir, "wan2.2-5b"))


@pytest.fixture(scope="session")
def ltx(models_dir: Path) -> LTXBackend:
    return LTXBackend(BACKENDS["ltx-video"], settings_for(models_dir, "ltx-video"))


@pytest.fixture
def image() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randint(0, 256, (40, 56, 3), generator=g, dtype=torch.uint8)


@pytest.fixture
def other_image() -> torch.Tensor:
    g = torch.Generator().manual_seed(8)
    return torch.randint(0, 256, (40, 56, 3), generator=g, dtype=torch.uint8)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # Tiny models are all overhead: on a shared 2-core machine a second OpenMP thread spins at
    # barriers (measured 1-5 s per call with two threads, 0.05-0.1 s with one).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

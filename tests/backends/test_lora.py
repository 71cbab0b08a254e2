from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from generation.backends import lora
from generation.backends.base import Adapter, BackendRequest
from generation.backends.catalog import BACKENDS
from generation.backends.ltx import LTXBackend
from generation.backends.wan import WanBackend
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.sampling import SamplingCancelled
from tests.backends.conftest import settings_for

SMALL = {"height": 32, "width": 32, "num_frames": 5, "steps": 2}


def _references(n: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return [torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8) for _ in range(n)]


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same(before: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    after = module.state_dict()
    assert list(after) == list(before)
    for name, value in before.items():
        assert torch.equal(value, after[name]), name


def test_train_save_load_unload_leaves_the_base_bit_identical(models_dir: Path, tmp_path: Path):
    backend = WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(models_dir, "wan2.1-1.3b"))
    transformer = backend.training_pipe().transformer
    before = _weights(transformer)
    request = BackendRequest("Mara walking", seed=5, **SMALL)
    plain = backend.generate(request).frames

    seen: list[tuple[int, int, float]] = []
    folder = backend.train_character(
        _references(),
        "Mara, a red-haired pilot",
        tmp_path / "mara",
        steps=6,
        rank=4,
        learning_rate=1e-2,
        progress=lambda s, t, loss: seen.append((s, t, loss)),
    )
    assert [(s, t) for s, t, _ in seen] == [(s, 6) for s in range(1, 7)]
    _assert_same(before, transformer)  # training leaves no adapter behind
    meta = json.loads((folder / lora.META_FILE).read_text())
    # Every step reports the running loss, and the last report is what the record keeps.
    assert all(math.isfinite(loss) and loss > 0 for _, _, loss in seen)
    assert round(seen[-1][2], 6) == meta["loss_last"] and round(seen[0][2], 6) == meta["loss_first"]
    assert (meta["rank"], meta["steps"], meta["references"]) == (4, 6, 2)
    assert meta["backend"] == backend.name
    saved = load_file(folder / lora.WEIGHTS_FILE)
    b = [v for k, v in saved.items() if "lora_B" in k]
    assert b and any(v.abs().sum() > 0 for v in b)  # trained away from its zero start

    mara = BackendRequest("Mara walking", seed=5, adapters=(Adapter(folder),), **SMALL)
    with_adapter = backend.generate(mara)
    assert not torch.equal(with_adapter.frames, plain)
    assert with_adapter.metadata["loras"][0]["prompt"] == "Mara, a red-haired pilot"
    again = backend.generate(mara)
    assert torch.equal(again.frames, with_adapter.frames)  # reloads reproduce exactly
    _assert_same(before, transformer)

    # A second character: both adapters apply together, each at its own weight.
    nell = backend.train_character(
        _references(1), "Nell", tmp_path / "nell", steps=4, rank=4, learning_rate=1e-2, seed=1
    )
    only_nell = backend.generate(
        BackendRequest("Mara walking", seed=5, adapters=(Adapter(nell),), **SMALL)
    ).frames
    pair = (Adapter(folder), Adapter(nell, 0.5))
    both = backend.generate(BackendRequest("Mara walking", seed=5, adapters=pair, **SMALL))
    assert not torch.equal(both.frames, with_adapter.frames)
    assert not torch.equal(both.frames, only_nell)
    assert [(d["prompt"], d["scale"]) for d in both.metadata["loras"]] == [
        ("Mara, a red-haired pilot", 1.0),
        ("Nell", 0.5),
    ]
    # Nell at weight 0 adds nothing to Mara's take.
    muted = (Adapter(folder), Adapter(nell, 0.0))
    assert torch.equal(
        backend.generate(BackendRequest("Mara walking", seed=5, adapters=muted, **SMALL)).frames,
        with_adapter.frames,
    )

    _assert_same(before, transformer)
    assert not getattr(transformer, "peft_config", None)
    assert torch.equal(backend.generate(request).frames, plain)


def test_an_adapter_at_scale_zero_changes_nothing(models_dir: Path, tmp_path: Path):
    backend = WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(models_dir, "wan2.1-1.3b"))
    folder = backend.train_character(
        _references(1), "Mara", tmp_path / "a", steps=3, rank=4, learning_rate=1e-2
    )
    plain = backend.generate(BackendRequest("Mara", **SMALL)).frames
    off = backend.generate(BackendRequest("Mara", adapters=(Adapter(folder, 0.0),), **SMALL)).frames
    assert torch.equal(plain, off)


def test_the_adapter_reaches_every_stage_and_is_removed_on_cancel(models_dir: Path, tmp_path: Path):
    backend = WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(models_dir, "wan2.1-1.3b"))
    folder = backend.train_character(
        _references(1), "Mara", tmp_path / "a", steps=3, rank=4, learning_rate=1e-2
    )
    camera = CameraSpec(moves=(CameraMove.make("truck", "left"),))
    request = BackendRequest("Mara", camera=camera, adapters=(Adapter(folder),), **SMALL)
    vace = backend.pipe("vace", backend.stages(request, "geometry")[-1].pipeline).transformer
    before = _weights(vace)
    result = backend.generate(request)
    assert result.metadata["pipelines"] == {"keyframe": "WanPipeline", "vace": "WanVACEPipeline"}
    _assert_same(before, vace)
    with pytest.raises(SamplingCancelled):
        backend.generate(request, is_cancelled=lambda: True)
    _assert_same(before, vace)
    assert not getattr(vace, "peft_config", None)


def test_cancelled_training_writes_nothing(models_dir: Path, tmp_path: Path):
    backend = WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(models_dir, "wan2.1-1.3b"))
    transformer = backend.training_pipe().transformer
    before = _weights(transformer)
    steps: list[int] = []
    with pytest.raises(SamplingCancelled):
        backend.train_character(
            _references(),
            "Mara",
            tmp_path / "never",
            steps=10,
            progress=lambda s, t, loss: steps.append(s),
            is_cancelled=lambda: len(steps) == 2,
        )
    assert steps == [1, 2]
    assert not (tmp_path / "never").exists()
    _assert_same(before, transformer)


def test_ltx_adapter_trains_and_loads(models_dir: Path, tmp_path: Path):
    backend = LTXBackend(BACKENDS["ltx-video"], settings_for(models_dir, "ltx-video"))
    transformer = backend.training_pipe().transformer
    before = _weights(transformer)
    folder = backend.train_character(
        _references(), "Mara", tmp_path / "m", steps=4, rank=4, learning_rate=1e-2
    )
    plain = backend.generate(BackendRequest("Mara", **SMALL)).frames
    styled = backend.generate(BackendRequest("Mara", adapters=(Adapter(folder),), **SMALL)).frames
    assert not torch.equal(plain, styled)
    _assert_same(before, transformer)

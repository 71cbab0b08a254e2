from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from diffusers import WanPipeline, WanVACEPipeline, WanVideoToVideoPipeline

from generation.backends.base import BackendRequest, ModelsNotInstalled
from generation.backends.catalog import BACKENDS
from generation.backends.loading import PipelineCache, folder_problems, require_folder
from generation.backends.registry import load_backend
from generation.backends.wan import WanBackend
from generation.engine.weights import WeightsNotInstalled
from tests.backends.conftest import settings_for

T2V = BACKENDS["wan2.1-1.3b"].folders["t2v"]
VACE = BACKENDS["wan2.1-1.3b"].folders["vace"]


def test_a_missing_folder_names_it_and_the_download_command(tmp_path: Path):
    with pytest.raises(ModelsNotInstalled) as caught:
        require_folder(tmp_path, T2V)
    message = str(caught.value)
    folder = tmp_path / "Wan2.1-T2V-1.3B-Diffusers"
    assert f"{folder} does not exist" in message
    assert f"hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers --local-dir {folder}" in message
    # The studio's job path already shows WeightsNotInstalled as "weights not installed".
    assert isinstance(caught.value, WeightsNotInstalled)


def test_an_incomplete_folder_says_what_is_missing(models_dir: Path, tmp_path: Path):
    copy = tmp_path / T2V.folder
    shutil.copytree(models_dir / T2V.folder, copy)
    assert folder_problems(copy, "WanPipeline") == []
    (copy / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    shutil.rmtree(copy / "tokenizer")
    with pytest.raises(ModelsNotInstalled) as caught:
        require_folder(tmp_path, T2V)
    assert "transformer/ has no weights" in str(caught.value)
    assert "tokenizer/ is missing" in str(caught.value)
    assert "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in str(caught.value)


def test_a_sharded_checkpoint_needs_every_shard(models_dir: Path, tmp_path: Path):
    copy = tmp_path / T2V.folder
    shutil.copytree(models_dir / T2V.folder, copy)
    # The layout of a real release: an index naming shards, one of which did not download.
    (copy / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",'
        ' "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}'
    )
    problems = folder_problems(copy, "WanPipeline")
    assert problems == [
        "transformer/ lacks 2 weight shard(s), e.g. diffusion_pytorch_model-00001-of-00002.safetensors"
    ]


def test_the_wrong_release_in_a_folder_is_caught(models_dir: Path):
    problems = folder_problems(models_dir / VACE.folder, "WanPipeline")
    assert problems == ["model_index.json names 'WanVACEPipeline', expected WanPipeline"]


def test_saved_pipelines_load_offline_and_share_identical_components(models_dir: Path):
    cache = PipelineCache(settings_for(models_dir, "wan2.1-1.3b"))
    t2v = cache.get(T2V, WanPipeline)
    vace = cache.get(VACE, WanVACEPipeline)
    assert isinstance(t2v, WanPipeline) and isinstance(vace, WanVACEPipeline)
    # Same files on disk: the 11 GB text encoder and the VAE are loaded once.
    assert vace.text_encoder is t2v.text_encoder
    assert vace.vae is t2v.vae
    assert vace.transformer is not t2v.transformer
    assert cache.get(T2V, WanPipeline) is t2v
    # Another pipeline class over a loaded folder reuses its modules.
    v2v = cache.get(T2V, WanVideoToVideoPipeline)
    assert v2v.transformer is t2v.transformer
    assert all(not m.training for m in (t2v.transformer, vace.transformer, t2v.text_encoder))


def test_loaded_weights_are_the_saved_ones(models_dir: Path):
    saved = WanPipeline.from_pretrained(models_dir / T2V.folder, local_files_only=True)
    cache = PipelineCache(settings_for(models_dir, "wan2.1-1.3b"))
    loaded = cache.get(T2V, WanPipeline)
    for (name, a), (_, b) in zip(
        saved.transformer.state_dict().items(), loaded.transformer.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_beyond_the_resident_limit_the_least_recent_folder_is_dropped(models_dir: Path):
    cache = PipelineCache(settings_for(models_dir, "wan2.1-1.3b", resident_pipelines=1))
    first = cache.get(T2V, WanPipeline)
    cache.get(VACE, WanVACEPipeline)
    assert cache.loaded() == [VACE.folder]
    again = cache.get(T2V, WanPipeline)
    assert again is not first
    assert cache.loaded() == [T2V.folder]


def test_a_backend_without_its_folders_fails_the_job_with_the_download_command(tmp_path: Path):
    backend = WanBackend(BACKENDS["wan2.1-1.3b"], settings_for(tmp_path, "wan2.1-1.3b"))
    with pytest.raises(
        ModelsNotInstalled, match=re.escape("hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    ):
        backend.generate(BackendRequest("a ball", height=32, width=32, num_frames=5, steps=1))


def test_one_backend_per_process_and_settings(models_dir: Path):
    settings = settings_for(models_dir, "ltx-video")
    assert load_backend(settings) is load_backend(settings)
    assert load_backend(settings).name == "ltx-video"
    assert type(load_backend(settings_for(models_dir, "wan2.2-5b"))).__name__ == "WanBackend"
    with pytest.raises(ValueError, match="unknown backend 'sora'"):
        load_backend(settings_for(models_dir, "sora"))

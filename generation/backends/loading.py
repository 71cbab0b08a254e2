"""Diffusers pipelines from local folders only, checked before loading and kept per process.

A folder is checked against its ``model_index.json`` before diffusers sees it: every component
it names needs its config and, for a model, its weights (all shards of a sharded checkpoint). A
missing or incomplete folder is a :class:`ModelsNotInstalled` naming the folder, what is missing,
and the command that downloads it on a machine with network access. Loading always passes
``local_files_only=True``; the package sets ``HF_HUB_OFFLINE=1`` before diffusers is imported.

Pipelines stay loaded for the process (a worker serves many jobs); beyond
``resident_pipelines`` folders the least recently used one is dropped. Components that are the
same files in two folders (Wan's text encoder, tokenizer and VAE) are loaded once and shared.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, TypeVar

import diffusers
import torch
import transformers

from generation.backends.base import BackendSettings, ModelsNotInstalled
from generation.backends.catalog import ModelFolder
from generation.backends.pipelines import DiffusionPipeline

log = logging.getLogger(__name__)

P = TypeVar("P", bound=DiffusionPipeline)

_CONFIG_NAMES = (
    "config.json",
    "scheduler_config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Components without weights of their own.
_NO_WEIGHTS = {"scheduler", "tokenizer", "image_processor", "feature_extractor"}
# Components loaded once and shared between folders when their files are the same.
_SHAREABLE = ("text_encoder", "tokenizer", "vae", "image_encoder", "image_processor")


def _component_problems(folder: Path, name: str) -> list[str]:
    sub = folder / name
    if not sub.is_dir():
        return [f"{name}/ is missing"]
    files = {p.name for p in sub.iterdir() if p.is_file()}
    problems = []
    if not any(c in files for c in _CONFIG_NAMES) and name != "tokenizer":
        problems.append(f"{name}/ has no config")
    if name == "tokenizer" and not files & {"tokenizer.json", "spiece.model", "vocab.json"}:
        problems.append("tokenizer/ has no vocabulary")
    if name in _NO_WEIGHTS:
        return problems
    for index in sorted(f for f in files if f.endswith(".index.json")):
        try:
            shards = set(json.loads((sub / index).read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError):
            problems.append(f"{name}/{index} is unreadable")
            continue
        missing = sorted(s for s in shards if s not in files)
        if missing:
            problems.append(f"{name}/ lacks {len(missing)} weight shard(s), e.g. {missing[0]}")
    if not any(f.endswith(_WEIGHT_SUFFIXES) for f in files):
        problems.append(f"{name}/ has no weights")
    return problems


def folder_problems(folder: Path, pipeline: str | None = None) -> list[str]:
    """What keeps `folder` from loading as a diffusers pipeline (empty when complete)."""
    index = folder / "model_index.json"
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    if not index.is_file():
        return ["model_index.json is missing (not a diffusers-format folder)"]
    try:
        spec = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        return [f"model_index.json is unreadable ({exc})"]
    problems = []
    if pipeline is not None and spec.get("_class_name") != pipeline:
        problems.append(f"model_index.json names {spec.get('_class_name')!r}, expected {pipeline}")
    for name, value in spec.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        problems.extend(_component_problems(folder, name))
    return problems


def require_folder(models_dir: Path, model: ModelFolder) -> Path:
    """The folder of `model` under `models_dir`; raises ModelsNotInstalled unless complete."""
    folder = model.path(models_dir)
    problems = folder_problems(folder, model.pipeline)
    if problems:
        raise ModelsNotInstalled(
            f"Model folder {folder} is not usable: {'; '.join(problems)}. Download it on a "
            f"machine with network access and copy it there: "
            f"{model.download_command(models_dir)}"
        )
    return folder


def _fingerprint(folder: Path, name: str) -> str:
    """Same files (names, sizes, config contents) means the same component."""
    digest = hashlib.sha256()
    for path in sorted((folder / name).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}".encode())
            if path.suffix == ".json" and path.stat().st_size < 1_000_000:
                digest.update(path.read_bytes())
    return digest.hexdigest()


def torch_dtype(name: str) -> torch.dtype:
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


class PipelineCache:
    """The pipelines of one backend in one process, loaded on first use.

    Args:
        settings: device, dtype, offload, tiling and how many folders stay resident.
        component_dtypes: dtype per component name that differs from ``settings.dtype``
            (Wan keeps its VAE and image encoder in float32).
    """

    def __init__(
        self, settings: BackendSettings, component_dtypes: dict[str, torch.dtype] | None = None
    ) -> None:
        self.settings = settings
        self.component_dtypes = dict(component_dtypes or {})
        # folder name -> {pipeline class name -> pipeline}
        self._folders: OrderedDict[str, dict[str, DiffusionPipeline]] = OrderedDict()
        self._prints: dict[str, dict[str, str]] = {}
        self.load_seconds: dict[str, float] = {}

    def get(self, model: ModelFolder, pipeline_cls: type[P]) -> P:
        """The pipeline `pipeline_cls` over `model`'s folder; another class over the same folder
        shares its components (``from_pipe``)."""
        key, cls_name = model.folder, pipeline_cls.__name__
        if key in self._folders:
            self._folders.move_to_end(key)
            loaded = self._folders[key]
            if cls_name not in loaded:
                base = next(iter(loaded.values()))
                loaded[cls_name] = self._place(pipeline_cls.from_pipe(base), fresh=False)
            pipe = loaded[cls_name]
            if not isinstance(pipe, pipeline_cls):  # keyed by class name: a same-named class
                raise TypeError(f"{model.folder} holds {type(pipe)}, not {pipeline_cls}")
            return pipe
        folder = require_folder(self.settings.models_dir, model)
        while len(self._folders) >= self.settings.resident_pipelines:
            self._evict()
        started = time.perf_counter()
        pipe = self._load(folder)
        self.load_seconds[key] = round(time.perf_counter() - started, 3)
        log.info("loaded %s in %.1fs", folder, self.load_seconds[key])
        self._folders[key] = {type(pipe).__name__: pipe}
        return self.get(model, pipeline_cls)

    def loaded(self) -> list[str]:
        return list(self._folders)

    def pipelines(self) -> list[DiffusionPipeline]:
        return [p for by_cls in self._folders.values() for p in by_cls.values()]

    def _load(self, folder: Path) -> DiffusionPipeline:
        """The folder as the pipeline class its model_index.json names."""
        spec = json.loads((folder / "model_index.json").read_text())
        pipeline_cls = getattr(diffusers, spec["_class_name"])
        names = [k for k, v in spec.items() if isinstance(v, list) and v[0] is not None]
        prints = {n: _fingerprint(folder, n) for n in names if n in _SHAREABLE}
        shared: dict[str, Any] = {}
        if not self.settings.cpu_offload:
            # Offload hooks belong to one pipeline, so offloaded pipelines share nothing.
            for other, other_prints in self._prints.items():
                if other not in self._folders:
                    continue
                donor = next(iter(self._folders[other].values()))
                for name, fp in prints.items():
                    if name not in shared and other_prints.get(name) == fp:
                        shared[name] = getattr(donor, name)
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
        dtype: dict[str, torch.dtype] = {"default": torch_dtype(self.settings.dtype)}
        dtype.update(self.component_dtypes)
        try:
            pipe = pipeline_cls.from_pretrained(
                folder, local_files_only=True, dtype=dtype, **shared
            )
        except (OSError, ValueError) as exc:
            raise ModelsNotInstalled(
                f"Model folder {folder} could not be loaded ({type(exc).__name__}: {exc})"
            ) from exc
        self._prints[folder.name] = prints
        for name, module in pipe.components.items():
            if isinstance(module, torch.nn.Module) and name not in shared:
                module.eval()
        return self._place(pipe, fresh=True)

    def _place(self, pipe: DiffusionPipeline, *, fresh: bool) -> DiffusionPipeline:
        s = self.settings
        if s.cpu_offload:
            pipe.enable_model_cpu_offload(device=s.device)
        elif fresh:
            pipe.to(s.device)
        if s.vae_tiling and hasattr(pipe, "vae"):
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _evict(self) -> None:
        name, _ = self._folders.popitem(last=False)
        log.info(
            "dropped pipeline %s (resident_pipelines=%d)", name, self.settings.resident_pipelines
        )
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

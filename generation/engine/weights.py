"""Model weights from local safetensors files only, each with a JSON config beside it.

Layout of a weights directory: ``<name>.safetensors`` (the state dict) and ``<name>.json``
(``{"class": ..., "config": {...}, "metadata": {...}}``), e.g. ``transformer.*`` and ``vae.*``.
There is no hub access anywhere: a missing file is a :class:`WeightsNotInstalled` error naming the
path, which the studio shows as "weights not installed".
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

C = TypeVar("C")


class WeightsNotInstalled(FileNotFoundError):
    """The weights (or their config) are not at the local path given."""


def _paths(directory: str | Path, name: str) -> tuple[Path, Path]:
    d = Path(directory)
    return d / f"{name}.safetensors", d / f"{name}.json"


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen dataclass config as a JSON-ready dict (tuples become lists, nested configs
    nested dicts)."""
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _from_json(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def config_from_dict(config_cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config dataclass from `config_to_dict`'s output, by the fields' type hints.

    Unknown keys are an error rather than silently dropped: a config from a newer model must not
    build a different network.
    """
    fields = {f.name for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
    unknown = set(data) - fields
    if unknown:
        raise ValueError(f"unknown {config_cls.__name__} fields: {sorted(unknown)}")
    hints = typing.get_type_hints(config_cls)
    return config_cls(**{key: _from_json(hints[key], value) for key, value in data.items()})


SCALE_SUFFIX = ".int8_scale"


def quantize_int8(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one float32 scale per output channel (dim 0)."""
    flat = t.float().reshape(t.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
    q = (flat / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q.reshape(t.shape).contiguous(), scale.contiguous()


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (q.float().reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)


def save_weights(
    model: nn.Module,
    config: Any,
    directory: str | Path,
    name: str,
    *,
    metadata: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json`` under ``directory``.

    Args:
        model: the module to save (its ``state_dict``).
        config: its frozen dataclass config.
        metadata: JSON-able facts for the model card (steps, data, hardware...).
        dtype: store floating tensors in this dtype (bf16 halves the file); ``torch.int8``
            stores weight matrices and kernels as int8 with a scale per output channel (a
            quarter of float32; biases and norms stay float32) and loading restores floats.

    Returns:
        the safetensors path.
    """
    weights_path, config_path = _paths(directory, name)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu()
        if dtype == torch.int8 and t.is_floating_point() and t.ndim >= 2 and t.numel() >= 256:
            q, scale = quantize_int8(t)
            state[key] = q
            state[key + SCALE_SUFFIX] = scale
            continue
        if dtype is not None and dtype != torch.int8 and t.is_floating_point():
            t = t.to(dtype)
        state[key] = t.contiguous()
    save_file(state, str(weights_path))
    # safetensors writes owner-only files; weights are shipped and read by other users' workers.
    weights_path.chmod(0o644)
    doc = {
        "class": type(model).__name__,
        "config": config_to_dict(config),
        "metadata": metadata or {},
    }
    config_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return weights_path


def read_config(directory: str | Path, name: str, config_cls: type[C]) -> tuple[C, dict[str, Any]]:
    """The config (and metadata) saved beside ``<name>.safetensors``."""
    _, config_path = _paths(directory, name)
    if not config_path.is_file():
        raise WeightsNotInstalled(f"weights not installed at {config_path} (config missing)")
    doc = json.loads(config_path.read_text())
    return config_from_dict(config_cls, doc["config"]), doc.get("metadata", {})


def load_weights(
    model: nn.Module, directory: str | Path, name: str, *, strict: bool = True
) -> nn.Module:
    """Load ``<name>.safetensors`` into ``model`` in place (cast to the model's dtypes)."""
    weights_path, _ = _paths(directory, name)
    if not weights_path.is_file():
        raise WeightsNotInstalled(f"weights not installed at {weights_path}")
    state = load_file(str(weights_path))
    for key in [k for k in state if k.endswith(SCALE_SUFFIX)]:
        name = key.removesuffix(SCALE_SUFFIX)
        state[name] = dequantize_int8(state[name], state.pop(key))
    model.load_state_dict(state, strict=strict)
    return model


def has_weights(directory: str | Path | None, name: str) -> bool:
    if directory is None:
        return False
    weights_path, config_path = _paths(directory, name)
    return weights_path.is_file() and config_path.is_file()

"""LoRA adapters (Hu et al. 2021) on the Linear projections of any model, with merge/unmerge and
safetensors save/load. Character lock trains one per character on the keyframe model's attention
projections; nothing here knows about the model.

A wrapped layer computes ``base(x) + (alpha / rank) * B(A(x))`` with ``B`` initialised to zero,
so injecting an adapter changes nothing until it is trained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

DEFAULT_TARGETS: tuple[str, ...] = ("qkv", "out", "q", "k", "v", "cross_out")
"""Last name component of the Linear layers to adapt: the U-Nets' self-attention (qkv, out) and
cross-attention (q, k, v, cross_out) projections."""


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update.

    Args:
        base: the layer to adapt; its parameters are frozen.
        rank: adapter rank r >= 1.
        alpha: scale numerator; the update is scaled by ``alpha / rank``.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        self.base = base
        self.rank = rank
        self.alpha = alpha
        self.scale = alpha / rank
        self.merged = False
        self.enabled = True
        base.requires_grad_(False)
        w = base.weight
        self.lora_a = nn.Parameter(
            torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype)
        )
        self.lora_b = nn.Parameter(
            torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype)
        )
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear initialises weights

    def delta_weight(self) -> Tensor:
        """(out, in) update ``scale * B @ A`` in float32 (merging in bf16 would lose it)."""
        return self.scale * (self.lora_b.float() @ self.lora_a.float())

    def forward(self, x: Tensor) -> Tensor:
        y = self.base(x)
        if self.merged or not self.enabled:
            return y
        return y + self.scale * ((x @ self.lora_a.t().to(x.dtype)) @ self.lora_b.t().to(x.dtype))

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight (inference speed: no extra matmuls)."""
        if not self.merged:
            w = self.base.weight
            w.copy_((w.float() + self.delta_weight()).to(w.dtype))
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again (exact up to float rounding)."""
        if self.merged:
            w = self.base.weight
            w.copy_((w.float() - self.delta_weight()).to(w.dtype))
            self.merged = False


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every adapted layer of ``model`` by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def inject_lora(
    model: nn.Module,
    rank: int,
    alpha: float | None = None,
    targets: Sequence[str] = DEFAULT_TARGETS,
) -> list[str]:
    """Wrap each ``nn.Linear`` whose last name component is in ``targets`` with a LoRA adapter.

    The model's own parameters are left as they are (freeze them for adapter training).

    Args:
        model: any module; modified in place.
        rank: adapter rank.
        alpha: scale numerator (default ``rank``, i.e. scale 1).
        targets: last name components to adapt, e.g. ``("q", "k", "v", "out")``.

    Returns:
        the qualified names of the wrapped layers, sorted.
    """
    alpha = float(rank if alpha is None else alpha)
    wanted = set(targets)
    chosen = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and name.rsplit(".", 1)[-1] in wanted
    ]
    if not chosen:
        raise ValueError(f"no nn.Linear named any of {sorted(wanted)} in {type(model).__name__}")
    for name, mod in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(mod, rank, alpha))
    return sorted(name for name, _ in chosen)


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def set_lora_enabled(model: nn.Module, enabled: bool) -> None:
    """Switch unmerged adapters on or off (e.g. to compare with and without a character)."""
    for layer in lora_layers(model).values():
        if layer.merged:
            raise RuntimeError("unmerge adapters before disabling them")
        layer.enabled = enabled


def remove_lora(model: nn.Module) -> None:
    """Put the plain ``nn.Linear`` layers back (unmerging first, so the model is as before)."""
    for name, layer in lora_layers(model).items():
        layer.unmerge()
        layer.base.requires_grad_(True)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base)


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapters' trainable parameters, for an optimiser."""
    return [p for layer in lora_layers(model).values() for p in (layer.lora_a, layer.lora_b)]


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """``{"<layer>.lora_a": (r, in), "<layer>.lora_b": (out, r)}`` for every adapter."""
    state = {}
    for name, layer in lora_layers(model).items():
        state[f"{name}.lora_a"] = layer.lora_a.detach().contiguous()
        state[f"{name}.lora_b"] = layer.lora_b.detach().contiguous()
    return state


def save_lora(
    model: nn.Module, path: str | Path, *, metadata: dict[str, str] | None = None
) -> Path:
    """Write the adapters to a safetensors file (rank, alpha and targets in its metadata).

    Args:
        path: destination ``.safetensors`` file.
        metadata: extra string fields to keep (e.g. character id, base model, steps).
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError("model has no LoRA adapters to save")
    first = next(iter(layers.values()))
    meta = {
        "format": "dailies-lora-1",
        "rank": str(first.rank),
        "alpha": str(first.alpha),
        "layers": json.dumps(sorted(layers)),
        **(metadata or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(lora_state_dict(model), str(path), metadata=meta)
    return path


def read_lora_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


@torch.no_grad()
def load_lora(model: nn.Module, path: str | Path) -> list[str]:
    """Load adapters saved by :func:`save_lora`, injecting them first where absent.

    Returns:
        the adapted layer names. Raises ``FileNotFoundError`` for a missing file and
        ``ValueError`` when the file's layers do not exist in ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA adapter not found at {path}")
    meta = read_lora_metadata(path)
    names: list[str] = json.loads(meta["layers"])
    rank, alpha = int(meta["rank"]), float(meta["alpha"])
    existing = lora_layers(model)
    missing = [n for n in names if n not in existing]
    modules = dict(model.named_modules())
    for name in missing:
        mod = modules.get(name)
        if not isinstance(mod, nn.Linear):
            raise ValueError(f"adapter layer {name!r} is not a Linear of this model")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(mod, rank, alpha))
    state = load_file(str(path))
    layers = lora_layers(model)
    for name in names:
        layer = layers[name]
        if layer.merged:
            raise RuntimeError(f"unmerge {name} before loading new adapter weights")
        layer.lora_a.copy_(state[f"{name}.lora_a"])
        layer.lora_b.copy_(state[f"{name}.lora_b"])
    return names


@torch.no_grad()
def load_loras(model: nn.Module, adapters: Sequence[tuple[str | Path, float]]) -> list[str]:
    """Load several adapters saved by :func:`save_lora` at once, each at its own weight.

    Each adapted layer gets one update, the adapters' ranks stacked::

        W x + sum_i w_i (alpha_i / r_i) B_i A_i x  =  W x + [B_1' ... B_n'] [A_1; ...; A_n] x

    with ``B_i' = w_i (alpha_i / r_i) B_i``; a layer only some adapters touch stacks only
    theirs. The base weights are not touched: :func:`remove_lora` takes every adapter off
    again and leaves the model bit for bit as it was.

    Args:
        model: a model without adapters; modified in place.
        adapters: ``(path, weight)`` per adapter; weight 0 leaves that adapter out of the sum.

    Returns:
        the adapted layer names, sorted. Raises ``FileNotFoundError`` for a missing file,
        ``ValueError`` when a file's layers do not exist in ``model`` and ``RuntimeError`` when
        the model already has adapters.
    """
    if lora_layers(model):
        raise RuntimeError("remove the model's adapters before loading others")
    parts: dict[str, list[tuple[Tensor, Tensor]]] = {}  # layer -> [(A (r, in), B' (out, r))]
    for path, weight in adapters:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LoRA adapter not found at {path}")
        meta = read_lora_metadata(path)
        scale = float(weight) * float(meta["alpha"]) / int(meta["rank"])
        state = load_file(str(path))
        for name in json.loads(meta["layers"]):
            a, b = state[f"{name}.lora_a"], state[f"{name}.lora_b"]
            parts.setdefault(name, []).append((a.float(), scale * b.float()))
    modules = dict(model.named_modules())
    for name in parts:
        if not isinstance(modules.get(name), nn.Linear):
            raise ValueError(f"adapter layer {name!r} is not a Linear of this model")
    for name, stack in parts.items():
        a = torch.cat([a for a, _ in stack], dim=0)  # (sum r, in)
        b = torch.cat([b for _, b in stack], dim=1)  # (out, sum r)
        rank = a.shape[0]
        layer = LoRALinear(modules[name], rank, float(rank))  # scale 1: the weights are in B'
        layer.lora_a.copy_(a)
        layer.lora_b.copy_(b)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer)
    return sorted(parts)

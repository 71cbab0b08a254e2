"""What every stage's trainer shares: checkpoints that survive a kill, an EMA, a JSON-lines log,
and a clock for CPU-hours."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class EMA:
    """Exponential moving average of a model's parameters (the weights that ship)."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.model: Any = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # Warm up: early on the average follows the model closely (as in diffusers' EMAModel).
        decay = min(self.decay, (1 + step) / (10 + step))
        mine: list[torch.Tensor] = list(self.model.parameters())
        theirs: list[torch.Tensor] = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(mine, theirs, 1 - decay)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    return torch.load(path, weights_only=False) if path.is_file() else None


class RunLog:
    """Appends one JSON object per line to `<out>/log.jsonl` and echoes it."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "log.jsonl"

    def write(self, **record: Any) -> None:
        line = json.dumps(record, sort_keys=True)
        with self.path.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)


class CpuClock:
    """Seconds of process CPU time plus wall time, carried across resumes."""

    def __init__(self, cpu_s: float = 0.0, wall_s: float = 0.0) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self.base_cpu, self.base_wall = cpu_s, wall_s

    @property
    def cpu_s(self) -> float:
        return self.base_cpu + time.process_time() - self._cpu0

    @property
    def wall_s(self) -> float:
        return self.base_wall + time.perf_counter() - self._wall0


def l1_with_gradients(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on values plus half the L1 on their image gradients: sharp edges (in colour or in
    depth) are what a plain L1 lets a network blur."""

    def grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    (py, px), (ty, tx) = grads(pred), grads(target)
    return F.l1_loss(pred, target) + 0.5 * (F.l1_loss(py, ty) + F.l1_loss(px, tx))


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW with the fused CPU kernel: the per-tensor loop PyTorch otherwise runs on a CPU
    took a third of a training step of the 22M-parameter keyframe model."""
    return torch.optim.AdamW(
        model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99), fused=True
    )


class Run:
    """A model, its EMA and optimiser, and the counters a resumed run carries on from.

    Checkpoints hold: config, model, ema, opt, step, seen, cpu_s, wall_s.
    """

    def __init__(
        self,
        out: Path,
        config: Any,
        build: Any,
        *,
        lr: float,
        resume: bool,
        weight_decay: float = 0.01,
        init: tuple[Path, str] | None = None,
    ) -> None:
        """`init` = (folder, name): with no checkpoint to resume, start from exported weights
        (the shipped ones), their config, and the counters their JSON recorded, so a run can
        carry on from what the repository ships on a machine that has no checkpoint."""
        from generation.engine import weights as engine_weights

        self.out = out
        self.path = out / "checkpoint.pt"
        ckpt = load_checkpoint(self.path) if resume else None
        meta: dict[str, Any] = {}
        if ckpt is None and init is not None:
            config, meta = engine_weights.read_config(init[0], init[1], type(config))
        self.config = ckpt["config"] if ckpt else config
        self.model: Any = build(self.config).to(memory_format=torch.channels_last)
        self.ema = EMA(self.model)
        self.opt = make_optimizer(self.model, lr, weight_decay)
        self.step, self.seen, self.clock = 0, 0, CpuClock()
        self.resumed = ckpt is not None
        if ckpt:
            self.model.load_state_dict(ckpt["model"])
            self.ema.model.load_state_dict(ckpt["ema"])
            self.opt.load_state_dict(ckpt["opt"])
            self.step, self.seen = ckpt["step"], ckpt.get("seen", 0)
            self.clock = CpuClock(ckpt["cpu_s"], ckpt["wall_s"])
        elif init is not None:
            engine_weights.load_weights(self.model, init[0], init[1])
            self.ema.model.load_state_dict(self.model.state_dict())
            self.step, self.seen = meta.get("step", 0), meta.get("samples_seen", 0)
            self.clock = CpuClock(meta.get("cpu_hours", 0) * 3600, meta.get("wall_hours", 0) * 3600)
            self.resumed = True

    def training(self, started: float, args: Any) -> bool:
        """Whether to take another step: inside `--minutes` of wall time since `started` and,
        when `--max-steps` is given, below that many steps in all (resumes included)."""
        if args.max_steps is not None and self.step >= args.max_steps:
            return False
        return time.perf_counter() - started < args.minutes * 60

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def update(self, loss: torch.Tensor, batch: int, clip: float = 1.0) -> None:
        """One optimiser step on `loss`, then the EMA; counts the step and the samples."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip, foreach=True)
        self.opt.step()
        self.ema.update(self.model, self.step)
        self.step += 1
        self.seen += batch

    def save(self) -> None:
        save_checkpoint(
            self.path,
            {
                "config": self.config,
                "model": self.model.state_dict(),
                "ema": self.ema.model.state_dict(),
                "opt": self.opt.state_dict(),
                "step": self.step,
                "seen": self.seen,
                "cpu_s": self.clock.cpu_s,
                "wall_s": self.clock.wall_s,
            },
        )

    def export(self, directory: Path, name: str, dtype: str = "float32", **metadata: Any) -> None:
        """Write the EMA weights as `<name>.safetensors` + `<name>.json` with the run's counters,
        stored as `dtype` (float32, bfloat16 or int8: see `weights.save_weights`)."""
        if not self.resumed:
            raise SystemExit(f"no checkpoint at {self.path}")
        self.write_weights(directory, name, dtype, **metadata)
        print(f"exported {name} at step {self.step} to {directory} as {dtype}")

    def write_weights(
        self, directory: Path, name: str, dtype: str = "float32", **metadata: Any
    ) -> None:
        """The EMA weights as they stand, in the shipped format (what `export` writes)."""
        from generation.engine import weights as engine_weights

        engine_weights.save_weights(
            self.ema.model,
            self.config,
            directory,
            name,
            metadata={
                "step": self.step,
                "samples_seen": self.seen,
                "cpu_hours": round(self.clock.cpu_s / 3600, 2),
                "wall_hours": round(self.clock.wall_s / 3600, 2),
                **metadata,
            },
            dtype=EXPORT_DTYPES[dtype],
        )


EXPORT_DTYPES: dict[str, torch.dtype | None] = {
    "float32": None,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
}


def init_from(args: Any, name: str) -> tuple[Path, str] | None:
    """`Run`'s `init` from the `--init` argument."""
    return (args.init, name) if args.init is not None else None


def standard_arguments(parser: Any, *, out: str, minutes: float, lr: float, batch: int) -> None:
    """The arguments every stage's trainer takes."""
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--minutes", type=float, default=minutes)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-shards", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="stop at this step count")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from the exported weights in this folder"
    )
    parser.add_argument("--export", type=Path, default=None, help="write EMA weights and exit")
    parser.add_argument("--export-dtype", default="float32", choices=sorted(EXPORT_DTYPES))

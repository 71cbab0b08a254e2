"""Train the refiner on world shots (`refiner_data`): cache render in, true frame out.

    nice -n 10 python -m generation.engine.training.refiner --data var/refiner \
        --out var/train/refiner --minutes 60 [--resume] [--export weights/builtin]

The loss is L1 on colours plus L1 on their image gradients (sharp edges are what a cache render
seen up close lacks), over the whole frame: covered pixels are corrected, holes painted.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch

from generation.engine import precision
from generation.engine.models.refiner import PRESETS, Refiner, refiner_input
from generation.engine.text import load_text_encoder
from generation.engine.training.common import (
    Run,
    RunLog,
    init_from,
    l1_with_gradients,
    standard_arguments,
)
from generation.engine.training.refiner_data import read_shard


class ShotBank:
    """Every (cache render, true frame) pair in memory, grouped by aspect."""

    def __init__(self, data_dir: Path, max_shards: int | None = None) -> None:
        shards = sorted(data_dir.glob("refiner-*.pt"))[:max_shards]
        if not shards:
            raise FileNotFoundError(f"no refiner shards in {data_dir}")
        groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        encoder = load_text_encoder()
        for shard in shards:
            data = read_shard(shard)
            pooled = encoder.encode_many(data["caption"]).pooled.half()
            for j, aspect in enumerate(data["aspect"]):
                g = groups[aspect]
                for key in ("cache", "mask", "cache_depth", "target"):
                    g[key].append(data[key][j])
                g["pooled"].append(pooled[j].expand(data["cache"][j].shape[0], -1))
        self.aspects = sorted(groups)
        self.data = {
            a: {key: torch.cat(value) for key, value in groups[a].items()} for a in self.aspects
        }
        self.counts = torch.tensor(
            [len(self.data[a]["cache"]) for a in self.aspects], dtype=torch.float
        )

    def __len__(self) -> int:
        return int(self.counts.sum())

    def batch(
        self, size: int, g: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        aspect = self.aspects[int(torch.multinomial(self.counts, 1, generator=g))]
        d = self.data[aspect]
        idx = torch.randint(0, len(d["cache"]), (size,), generator=g)
        x = refiner_input(
            d["cache"][idx].float() / 255, d["mask"][idx], d["cache_depth"][idx].float()
        )
        y = d["target"][idx].permute(0, 3, 1, 2).float() / 127.5 - 1
        flip = (torch.rand(size, generator=g) < 0.5)[:, None, None, None]
        x, y = torch.where(flip, x.flip(-1), x), torch.where(flip, y.flip(-1), y)
        return x, y, d["pooled"][idx].float()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("var/refiner"))
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS))
    standard_arguments(parser, out="var/train/refiner", minutes=60, lr=5e-4, batch=16)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Run(
        args.out,
        PRESETS[args.preset],
        Refiner,
        lr=args.lr,
        resume=bool(args.resume or args.export),
        init=init_from(args, "refiner"),
    )
    if args.export is not None:
        run.export(args.export, "refiner", args.export_dtype)
        return
    log = RunLog(args.out)
    bank = ShotBank(args.data, args.max_shards)
    log.write(event="start", step=run.step, frames=len(bank))
    g = torch.Generator().manual_seed(17 + run.step)
    started = last_ckpt = window = time.perf_counter()
    losses: list[float] = []
    while run.training(started, args):
        x, y, pooled = bank.batch(args.batch, g)
        run.set_lr(args.lr * min(1.0, (run.step + 1) / 200))
        with precision.autocast("cpu"):
            pred = run.model(x.contiguous(memory_format=torch.channels_last), pooled)
        loss = l1_with_gradients(pred.float(), y)
        run.update(loss, args.batch)
        losses.append(loss.item())
        if run.step % 50 == 0:
            now = time.perf_counter()
            log.write(
                step=run.step,
                loss=round(sum(losses) / len(losses), 5),
                frames_per_s=round(50 * args.batch / (now - window), 1),
            )
            losses, window = [], now
        if time.perf_counter() - last_ckpt > args.checkpoint_minutes * 60:
            run.save()
            last_ckpt = time.perf_counter()
    run.save()
    log.write(event="stop", step=run.step, cpu_hours=round(run.clock.cpu_s / 3600, 3))


if __name__ == "__main__":
    main()

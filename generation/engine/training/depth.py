"""Train the depth model on world keyframes and their exact depth buffers, resumably.

    nice -n 10 python -m generation.engine.training.depth --data var/keyframes \
        --out var/train/depth --minutes 30 [--resume] [--export weights/builtin]

The input images are degraded the way the images it will see are (a little blur, noise and
exposure change, as in a generated keyframe or a compressed frame), flipped half the time. The
loss is L1 on the inverse-depth channel plus L1 on its image gradients, which keeps edges sharp.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from generation.engine import precision
from generation.engine.models.depth import PRESETS, DepthModel
from generation.engine.models.keyframe import depth_to_channel, rgb_to_channels
from generation.engine.optics import gaussian_blur
from generation.engine.training.common import (
    Run,
    RunLog,
    init_from,
    l1_with_gradients,
    standard_arguments,
)
from generation.engine.training.keyframe_data import read_shard


class ImageDepthBank:
    """Keyframes and depth channels in memory, grouped by size."""

    def __init__(self, data_dir: Path, max_shards: int | None = None) -> None:
        shards = [p for p in sorted(data_dir.glob("keyframes-*.pt")) if ".tokens" not in p.name]
        groups: dict[str, tuple[list, list, list]] = {}
        for shard in shards[:max_shards]:
            for s in read_shard(shard):
                rgb, depth, focal = groups.setdefault(s["camera"]["aspect"], ([], [], []))
                rgb.append(s["rgb"])
                depth.append(depth_to_channel(s["depth"]).half())
                focal.append(s["camera"]["focal_mm"])
        if not groups:
            raise FileNotFoundError(f"no keyframe shards in {data_dir}")
        self.aspects = sorted(groups)
        self.rgb = {a: torch.stack(groups[a][0]) for a in self.aspects}
        self.depth = {a: torch.stack(groups[a][1]) for a in self.aspects}
        self.focal = {a: torch.tensor(groups[a][2]) for a in self.aspects}
        self.counts = torch.tensor([len(self.focal[a]) for a in self.aspects], dtype=torch.float)

    def batch(self, size: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        aspect = self.aspects[int(torch.multinomial(self.counts, 1, generator=g))]
        idx = torch.randint(0, len(self.focal[aspect]), (size,), generator=g)
        rgb = rgb_to_channels(self.rgb[aspect][idx])  # (B, 3, H, W)
        target = self.depth[aspect][idx].float()[:, None]  # (B, 1, H, W)
        flip = (torch.rand(size, generator=g) < 0.5)[:, None, None, None]
        rgb, target = (
            torch.where(flip, rgb.flip(-1), rgb),
            torch.where(flip, target.flip(-1), target),
        )
        sigma = float(torch.rand((), generator=g)) * 1.0
        rgb = gaussian_blur(rgb, sigma) if sigma > 0.2 else rgb
        gain = 1 + 0.15 * (torch.rand(size, 1, 1, 1, generator=g) * 2 - 1)
        rgb = (rgb + 1) * gain - 1 + 0.03 * torch.randn(rgb.shape, generator=g)
        return rgb.clamp(-1, 1), target, self.focal[aspect][idx]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("var/keyframes"))
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS))
    standard_arguments(parser, out="var/train/depth", minutes=30, lr=5e-4, batch=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Run(
        args.out,
        PRESETS[args.preset],
        DepthModel,
        lr=args.lr,
        resume=bool(args.resume or args.export),
        init=init_from(args, "depth"),
    )
    if args.export is not None:
        run.export(args.export, "depth", args.export_dtype)
        return
    log = RunLog(args.out)
    bank = ImageDepthBank(args.data, args.max_shards)
    g = torch.Generator().manual_seed(7 + run.step)
    started = last_ckpt = time.perf_counter()
    losses: list[float] = []
    while run.training(started, args):
        rgb, target, focal = bank.batch(args.batch, g)
        run.set_lr(args.lr * min(1.0, (run.step + 1) / 200))
        with precision.autocast("cpu"):
            pred = run.model(rgb.contiguous(memory_format=torch.channels_last), focal)
        loss = l1_with_gradients(pred.float(), target)
        run.update(loss, args.batch)
        losses.append(loss.item())
        if run.step % 100 == 0:
            log.write(step=run.step, loss=round(sum(losses) / len(losses), 5))
            losses = []
        if time.perf_counter() - last_ckpt > args.checkpoint_minutes * 60:
            run.save()
            last_ckpt = time.perf_counter()
    run.save()
    log.write(event="stop", step=run.step, cpu_hours=round(run.clock.cpu_s / 3600, 3))


if __name__ == "__main__":
    main()

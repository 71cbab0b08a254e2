"""Train the attribute probe on world renders of characters and write `weights/attribute_probe.*`.

    python -m generation.engine.training.attribute_probe --identities 1500 --views 5 --minutes 20

The frames are the identity trainer's cached world shots (``--cache``): each a random character
in a random scene, lens, aspect, move and moment, labelled with its shirt, trousers and
headwear. Batches hold one aspect each, at the refiner's size the views are rendered at.
Generated frames are softer than renders (the keyframe is painted at half that size), so
half of every batch is shrunk to the keyframe's size and grown back, and every frame is
blurred, shifted, flipped, re-exposed and noised at random. Held-out characters (another world
seed), read from whole frames as the benchmark reads them, sharp and shrunk, give the accuracy
printed and stored in the weights' metadata.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine import precision
from generation.engine.attribute_probe import (
    ATTRIBUTES,
    NAME,
    WEIGHTS_DIR,
    AttributeProbe,
    AttributeProbeConfig,
    read_attributes,
)
from generation.engine.native import RENDER_SCALE
from generation.engine.optics import gaussian_blur
from generation.engine.training.identity import HELD_OUT_SEED, TRAIN_SEED, cached_views
from generation.engine.weights import save_weights
from generation.engine.world.portraits import CharacterView

LEARNING_RATE = 3e-3


def group_views(views: list[CharacterView]) -> list[tuple[Tensor, dict[str, Tensor]]]:
    """(uint8 (N, H, W, 3) frames, {attribute: (N,) class indices}), one pair per frame size."""
    groups: dict[tuple[int, ...], list[CharacterView]] = {}
    for v in views:
        groups.setdefault(tuple(v.frame.shape), []).append(v)
    return [
        (
            torch.stack([v.frame for v in vs]),
            {
                k: torch.tensor([opts.index(getattr(v.identity, k)) for v in vs])
                for k, opts in ATTRIBUTES.items()
            },
        )
        for vs in groups.values()
    ]


def shrink(x: Tensor) -> Tensor:
    """(B, 3, H, W) down to the keyframe's size and back up: the softness of a painted frame."""
    h, w = x.shape[-2:]
    small = (h // RENDER_SCALE, w // RENDER_SCALE)
    x = F.interpolate(x, size=small, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def augment(x: Tensor, g: torch.Generator) -> Tensor:
    """(B, 3, H, W) in [-1, 1]: flips, a shift of up to 6 pixels, half the batch shrunk and
    grown, a blur of sigma 0-1.2, gain and offset, and noise."""
    b, _, h, w = x.shape
    flip = (torch.rand(b, generator=g) < 0.5)[:, None, None, None]
    x = torch.where(flip, x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-6, 7, (2,), generator=g))
    x = F.pad(x, (6, 6, 6, 6), mode="replicate")[..., 6 + dy : 6 + dy + h, 6 + dx : 6 + dx + w]
    soft = (torch.rand(b, generator=g) < 0.5)[:, None, None, None]
    x = torch.where(soft, shrink(x), x)
    x = gaussian_blur(x, float(torch.rand((), generator=g)) * 1.2)
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    offset = 0.1 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    noise = torch.randn(x.shape, generator=g) * 0.04 * torch.rand(b, 1, 1, 1, generator=g)
    return (x * gain + offset + noise).clamp(-1, 1)


def held_out_accuracy(probe: AttributeProbe, views: list[CharacterView], soft: bool) -> dict:
    """Per-attribute and all-three accuracy of whole-frame reads of `views`."""
    reads = []
    for v in views:
        frame = v.frame[None]
        if soft:
            x = shrink(frame.permute(0, 3, 1, 2).float())
            frame = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        reads.append(read_attributes(probe, frame)[0])
    pairs = list(zip(reads, views, strict=True))
    out = {
        k: round(sum(r[k] == getattr(v.identity, k) for r, v in pairs) / len(views), 4)
        for k in ATTRIBUTES
    }
    out["all_three"] = round(
        sum(all(r[k] == getattr(v.identity, k) for k in ATTRIBUTES) for r, v in pairs) / len(views),
        4,
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=1500)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--held-out", type=int, default=80)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--cache", type=Path, default=Path("var/identity"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    started = time.perf_counter()
    train = [
        v for p in cached_views(args.cache, TRAIN_SEED, args.identities, args.views) for v in p
    ]
    held = [v for p in cached_views(args.cache, HELD_OUT_SEED, args.held_out, 5) for v in p]
    print(f"{len(train)} views ready in {time.perf_counter() - started:.0f}s", flush=True)
    groups = group_views(train)
    sizes = torch.tensor([float(len(f)) for f, _ in groups])
    cfg = AttributeProbeConfig()
    probe = AttributeProbe(cfg)
    probe.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(probe.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    budget, clock, step = args.minutes * 60, time.perf_counter(), 0
    while (elapsed := time.perf_counter() - clock) < budget:
        for group in opt.param_groups:  # cosine decay over the time budget
            group["lr"] = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        frames, labels = groups[int(torch.multinomial(sizes, 1, generator=g))]
        pick = torch.randint(0, len(frames), (args.batch,), generator=g)
        x = augment(frames[pick].permute(0, 3, 1, 2).float() / 127.5 - 1, g)
        probe.train()
        with precision.autocast("cpu"):
            out = probe(x.contiguous(memory_format=torch.channels_last))
            losses = [F.cross_entropy(out[k].float(), labels[k][pick]) for k in ATTRIBUTES]
            loss = torch.stack(losses).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} {elapsed:.0f}s", flush=True)
    probe.eval()
    accuracy = {
        "sharp": held_out_accuracy(probe, held, soft=False),
        "shrunk": held_out_accuracy(probe, held, soft=True),
    }
    print("held-out accuracy (whole frames)", accuracy, flush=True)
    path = save_weights(
        probe,
        cfg,
        args.out,
        NAME,
        metadata={
            "steps": step,
            "batch": args.batch,
            "train_minutes": args.minutes,
            "train_views": len(train),
            "train_seed": TRAIN_SEED,
            "held_out_seed": HELD_OUT_SEED,
            "held_out_views": len(held),
            "held_out_accuracy": accuracy,
        },
    )
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

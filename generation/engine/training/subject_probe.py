"""Train the subject probe on world keyframes and write `weights/subject_probe.safetensors`.

    python -m generation.engine.training.subject_probe --data var/keyframes --minutes 14

Keyframes are read at their own size, one aspect per batch, with the four kinds drawn equally
often (balls are half the world's subjects, cylinders one in fifteen). Held-out accuracy, per
kind, is measured on keyframes of the benchmark's own world seed and printed.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from generation.engine import precision
from generation.engine.optics import gaussian_blur
from generation.engine.subject_probe import (
    KINDS,
    WEIGHTS,
    SubjectProbe,
    probe_input,
    read_subject,
    subject_kind,
)
from generation.engine.training.keyframe_data import HELD_OUT_SEED, read_shard, render_keyframe


def load_groups(shards: list[Path]) -> list[tuple[Tensor, Tensor]]:
    """(uint8 (N, H, W, 3) frames, (N,) kind indices), one pair per keyframe size."""
    groups: dict[tuple[int, ...], tuple[list[Tensor], list[int]]] = {}
    for shard in shards:
        for s in read_shard(shard):
            frames, kinds = groups.setdefault(tuple(s["rgb"].shape), ([], []))
            frames.append(s["rgb"])
            kinds.append(KINDS.index(subject_kind(s["labels"])))
    return [(torch.stack(f), torch.tensor(k)) for f, k in groups.values()]


def augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Flips, a shift of up to 4 pixels, gain and offset, and a blur of sigma 0-1.5 on (B, 3, H, W)."""
    b = x.shape[0]
    flip = (torch.rand(b, generator=g) < 0.5)[:, None, None, None]
    x = torch.where(flip, x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
    h, w = x.shape[-2:]
    x = F.pad(x, (4, 4, 4, 4), mode="replicate")[..., 4 + dy : 4 + dy + h, 4 + dx : 4 + dx + w]
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    offset = 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    x = (x * gain + offset).clamp(-1, 1)
    # Generated frames are softer than renders: train on blurred copies too.
    return gaussian_blur(x, float(torch.rand((), generator=g)) * 1.5)


def held_out_accuracy(probe: SubjectProbe, count: int) -> dict[str, tuple[int, int]]:
    """(right, total) per kind on the first `count` keyframes of the held-out world seed."""
    probe.eval()
    tally = {k: [0, 0] for k in KINDS}
    for i in range(count):
        h = render_keyframe(HELD_OUT_SEED, i)
        truth = subject_kind(h["labels"])
        tally[truth][0] += read_subject(probe, h["rgb"][None])[0] == truth
        tally[truth][1] += 1
    return {k: (r, n) for k, (r, n) in tally.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("var/keyframes"))
    parser.add_argument("--minutes", type=float, default=14.0)
    parser.add_argument("--max-shards", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--held-out", type=int, default=300)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shards = [p for p in sorted(args.data.glob("keyframes-*.pt")) if ".tokens" not in p.name]
    groups = load_groups(shards[: args.max_shards])
    sizes = torch.tensor([float(len(k)) for _, k in groups])
    counts = torch.bincount(torch.cat([k for _, k in groups]), minlength=len(KINDS)).float()
    print(
        f"{int(sizes.sum())} keyframes, "
        + ", ".join(f"{k} {int(n)}" for k, n in zip(KINDS, counts, strict=True))
    )
    # Every kind equally likely within a batch: the world's skew taught the old probe "ball".
    balance = [(1 / counts)[k] for _, k in groups]
    probe = SubjectProbe()
    # torch's stubs type Module.to without its memory_format keyword.
    probe.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(probe.parameters(), lr=args.lr, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    budget = args.minutes * 60
    started = time.perf_counter()
    step = 0
    while (elapsed := time.perf_counter() - started) < budget:
        # Warm up over the first 2 % of the budget, then a cosine to zero at its end.
        frac = elapsed / budget
        lr = args.lr * min(1.0, frac / 0.02) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = lr
        j = int(torch.multinomial(sizes, 1, generator=g))
        frames, kinds = groups[j]
        idx = torch.multinomial(balance[j], args.batch, replacement=True, generator=g)
        x = augment(probe_input(frames[idx]), g).contiguous(memory_format=torch.channels_last)
        with precision.autocast("cpu"):
            loss = F.cross_entropy(probe(x), kinds[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            rate = step * args.batch / elapsed
            print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} {rate:.0f} frames/s", flush=True)
    print(f"{step} steps of {args.batch} in {time.perf_counter() - started:.0f}s")
    tally = held_out_accuracy(probe, args.held_out)
    right = sum(r for r, _ in tally.values())
    print(f"held-out accuracy {right}/{args.held_out} = {right / args.held_out:.3f}")
    print(", ".join(f"{k} {r}/{n}" for k, (r, n) in tally.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in probe.state_dict().items()}
    save_file(state, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

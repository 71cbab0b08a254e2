"""Train the subject probe on world keyframes and write `weights/subject_probe.safetensors`.

    python -m generation.engine.training.subject_probe --data var/keyframes --minutes 10

Held-out accuracy is measured on keyframes of the benchmark's own world seed and printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("var/keyframes"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--max-shards", type=int, default=None)
    parser.add_argument("--held-out", type=int, default=400)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    shards = [p for p in sorted(args.data.glob("keyframes-*.pt")) if ".tokens" not in p.name]
    xs, ys = [], []
    for shard in shards[: args.max_shards]:
        samples = read_shard(shard)
        for s in samples:
            xs.append(probe_input(s["rgb"][None]))
            ys.append(KINDS.index(subject_kind(s["labels"])))
    x = torch.cat(xs)
    y = torch.tensor(ys)
    probe = SubjectProbe()
    opt = torch.optim.AdamW(probe.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    step = 0
    while time.perf_counter() - started < args.minutes * 60:
        idx = torch.randint(0, len(y), (128,), generator=g)
        batch = x[idx]
        flip = (torch.rand(128, generator=g) < 0.5)[:, None, None, None]
        batch = torch.where(flip, batch.flip(-1), batch)
        # Generated frames are softer than renders: train on some blurred copies too.
        batch = gaussian_blur(batch, float(torch.rand((), generator=g)) * 1.5)
        loss = F.cross_entropy(probe(batch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    probe.eval()
    held = [render_keyframe(HELD_OUT_SEED, i) for i in range(args.held_out)]
    right = sum(read_subject(probe, h["rgb"][None])[0] == subject_kind(h["labels"]) for h in held)
    print(f"held-out accuracy {right}/{len(held)} = {right / len(held):.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in probe.state_dict().items()}, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

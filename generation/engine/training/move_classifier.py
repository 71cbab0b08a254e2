"""Train the camera-move classifier on rendered world clips (see `motion_data` for the clips).

    python -m generation.engine.training.move_classifier --data var/motion --epochs 20 --ensemble 2 --all \
        --export weights/move_classifier.safetensors

    # or go on training an ensemble on fresh clips, starting from its networks:
    python -m generation.engine.training.move_classifier --data var/motion-new --epochs 24 --ensemble 4 \
        --all --lr 1e-3 --resume weights/move_classifier.safetensors --export FILE

(docs/world/README.md has the commands behind the shipped ensemble.)

Flow features of every clip and of the clip played backwards are computed once per chunk and
cached beside it. Chunks whose index ends in 9 are the validation split; training augments with
the reversed clip (opposite direction) and the mirrored one (left and right swapped).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generation.engine.camera import MOVE_KINDS
from generation.engine.move_classifier import (
    CHANNELS,
    LABELS,
    MIRROR_LABELS,
    REVERSE_LABELS,
    MoveNet,
    flow_features,
    load_move_nets,
    mirror_features,
    net_from_state,
    symmetric_probabilities,
    widen_net,
)


def chunk_features(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cached (features (N, C, G, G) float16, features of the reversed clips, labels (N,)) for
    one rendered chunk."""
    cache = path.with_suffix(".flow.pt")
    if cache.exists():
        data = torch.load(cache)
        return data["x"], data["xr"], data["y"]
    torch.set_num_threads(1)
    raw = np.load(path)
    videos = [torch.from_numpy(v) for v in raw["video"]]
    x = torch.stack([flow_features(v) for v in videos]).half()
    xr = torch.stack([flow_features(v.flip(0)) for v in videos]).half()
    y = torch.from_numpy(raw["label"]).long()
    torch.save({"x": x, "xr": xr, "y": y}, cache)
    return x, xr, y


def _chunks(data: Path) -> list[Path]:
    return sorted(p for p in data.glob("chunk-*.npz") if ".tmp" not in p.name)


def fill_caches(data: Path, workers: int) -> None:
    """Compute the feature caches of every chunk, `workers` chunks at a time."""
    todo = [p for p in _chunks(data) if not p.with_suffix(".flow.pt").exists()]
    if workers > 1 and len(todo) > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            pool.map(_cache, todo)
    else:
        for path in todo:
            _cache(path)


def _cache(path: Path) -> None:
    chunk_features(path)  # returns nothing, so a pool does not ship the features back


Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # features, reversed features, labels


def load_split(data: Path) -> dict[str, Split]:
    """Every chunk's features and labels, as "train" and "val" (chunk index ending in 9)."""
    paths = _chunks(data)
    split: dict[str, list] = {"train": [], "val": []}
    for path, xy in zip(paths, map(chunk_features, paths), strict=True):
        split["val" if int(path.stem.split("-")[1]) % 10 == 9 else "train"].append(xy)
    return {
        k: tuple(
            torch.cat(parts).float() if parts[0].is_floating_point() else torch.cat(parts)
            for parts in zip(*v, strict=True)
        )
        for k, v in split.items()
        if v
    }


def accuracy(net: MoveNet, x: torch.Tensor, xr: torch.Tensor, y: torch.Tensor):
    """(move-kind accuracy, direction accuracy where the kind is right), read as the shipped
    classifier reads: averaged over the mirrored and reversed views."""
    net.eval()
    pred = torch.cat(
        [
            symmetric_probabilities((net,), x[i : i + 512], xr[i : i + 512]).argmax(-1)
            for i in range(0, len(x), 512)
        ]
    )
    kind = torch.tensor([MOVE_KINDS.index(LABELS[i][0]) for i in range(len(LABELS))])
    kind_ok = kind[pred] == kind[y]
    return float(kind_ok.float().mean()), float((pred == y)[kind_ok].float().mean())


def _augment(x, xr, y, reverse: bool):
    """A random view of each clip: played backwards (when `reverse`) and/or mirrored."""
    if reverse:
        back = torch.rand(len(y)) < 0.5
        x = torch.where(back[:, None, None, None], xr, x)
        y = torch.where(back, REVERSE_LABELS[y], y)
    flip = torch.rand(len(y)) < 0.5
    x = torch.where(flip[:, None, None, None], mirror_features(x), x)
    return x, torch.where(flip, MIRROR_LABELS[y], y)


def train(
    splits: dict[str, Split],
    epochs: int,
    *,
    batch: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    reverse: bool = True,
    channels: int = CHANNELS,
    start: MoveNet | None = None,
) -> MoveNet:
    """One network on `splits["train"]`, reporting `splits["val"]` (if any) every epoch.

    From `start` (widened to `channels`) rather than from scratch when given: a network trained
    on other clips goes on learning from these, so what it learnt from clips no longer on disk
    is kept.
    """
    torch.manual_seed(seed)
    x, xr, y = splits["train"]
    print(f"train {len(x)} clips, val {len(splits['val'][0]) if 'val' in splits else 0}")
    net = MoveNet(channels=channels) if start is None else widen_net(start, channels)
    if start is not None and "val" in splits:
        kind_acc, dir_acc = accuracy(net, *splits["val"])
        print(f"start val move {kind_acc:.1%} direction {dir_acc:.1%}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * math.ceil(len(x) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    for epoch in range(epochs):
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xb, yb = _augment(x[idx], xr[idx], y[idx], reverse)
            loss = F.cross_entropy(net(xb), yb, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        line = f"epoch {epoch + 1}/{epochs} loss {total / len(x):.3f}"
        if "val" in splits:
            kind_acc, dir_acc = accuracy(net, *splits["val"])
            line += f" val move {kind_acc:.1%} direction {dir_acc:.1%}"
        print(f"{line} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return net.eval()


@dataclass(frozen=True)
class MemberJob:
    """How to train one network of an ensemble (picklable, for a worker process)."""

    data: Path
    epochs: int
    use_all: bool
    reverse: bool
    channels: int
    seed: int
    threads: int
    lr: float
    resume: Path | None  # an ensemble file: network `seed` of it is where training starts


def _train_member(job: MemberJob) -> dict[str, torch.Tensor]:
    torch.set_num_threads(job.threads)
    splits = load_split(job.data)
    if job.use_all and "val" in splits:
        val = splits.pop("val")
        splits["train"] = tuple(torch.cat(p) for p in zip(splits["train"], val, strict=True))
    start = load_move_nets(job.resume)[job.seed] if job.resume else None
    net = train(
        splits,
        job.epochs,
        lr=job.lr,
        seed=job.seed,
        reverse=job.reverse,
        channels=job.channels,
        start=start,
    )
    return net.state_dict()


def export(nets: list[MoveNet], path: Path) -> None:
    """Save an ensemble as one safetensors file, fp16, keys prefixed "net<i>."."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"net{i}.{k}": v.half().contiguous()
        for i, net in enumerate(nets)
        for k, v in net.state_dict().items()
    }
    save_file(tensors, str(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("var/motion"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ensemble", type=int, default=1, help="networks to train and ship")
    parser.add_argument(
        "--all", action="store_true", help="train on the validation chunks too (shipped weights)"
    )
    parser.add_argument(
        "--no-reverse", action="store_true", help="train without clips played backwards"
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=CHANNELS,
        help=f"read only the first N of the {CHANNELS} feature channels (to measure what the "
        "later ones add)",
    )
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument(
        "--resume",
        type=Path,
        help="an ensemble file: network i of it is where member i starts (its first channels "
        "keep their weights, added ones start at zero), so fresh clips add to what it learnt",
    )
    parser.add_argument("--export", type=Path)
    parser.add_argument(
        "--extend", type=Path, help="an ensemble file whose networks the export keeps too"
    )
    args = parser.parse_args(argv)
    if args.resume:  # before the feature caches, which can take many minutes
        resumed = load_move_nets(args.resume)
        if args.ensemble > len(resumed):
            parser.error(f"{args.resume} holds fewer than {args.ensemble} networks to resume")
        if args.channels < max(net.channels for net in resumed[: args.ensemble]):
            parser.error(f"{args.resume} has networks wider than --channels {args.channels}")
    torch.set_num_threads(args.threads)
    fill_caches(args.data, args.workers)
    jobs = [
        MemberJob(
            data=args.data,
            epochs=args.epochs,
            use_all=args.all,
            reverse=not args.no_reverse,
            channels=args.channels,
            seed=seed,
            threads=args.threads,
            lr=args.lr,
            resume=args.resume,
        )
        for seed in range(args.ensemble)
    ]
    if args.workers > 1 and args.ensemble > 1:
        # Members train in parallel, one process each, splitting the threads between them.
        jobs = [replace(j, threads=max(1, args.threads // args.workers)) for j in jobs]
        with mp.get_context("spawn").Pool(min(args.workers, args.ensemble)) as pool:
            states = pool.map(_train_member, jobs)
    else:
        states = [_train_member(j) for j in jobs]
    nets = list(load_move_nets(args.extend)) if args.extend else []
    nets += map(net_from_state, states)
    if args.export:
        export(nets, args.export)
        print(f"wrote {args.export}")


if __name__ == "__main__":
    main()

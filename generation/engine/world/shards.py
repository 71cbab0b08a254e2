"""Cached shards of rendered samples: render once (in parallel, in the background), train often.

On-the-fly rendering gives ~3 samples/s per core at 64 px (bench/results/world_throughput.md),
less than a CPU training step eats; shards make reading a sample a tensor load.
Each shard is a `torch.save`d dict of plain types, readable with `weights_only=True`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info

from generation.engine.camera import CameraPoses, CameraSpec
from generation.engine.world.dataset import WorldDatasetConfig, render_sample

_POSE_FIELDS = ("times", "position", "rotation", "focal_mm", "focus_m")


def write_shards(
    config: WorldDatasetConfig,
    out_dir: Path,
    *,
    start: int = 0,
    count: int,
    shard_size: int = 256,
) -> list[Path]:
    """Render samples [start, start + count) of `config` into shards of `shard_size` samples.

    Shard files are named by their first index, so several processes can each write a disjoint
    index range into the same directory.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for first in range(start, start + count, shard_size):
        last = min(start + count, first + shard_size)
        samples = [render_sample(config, i) for i in range(first, last)]
        shard = {
            "index": [s["index"] for s in samples],
            "video": [s["video"] for s in samples],
            "caption": [s["caption"] for s in samples],
            "camera": [json.dumps(s["camera"]) for s in samples],
            "labels": [json.dumps(s["labels"]) for s in samples],
            "character": [json.dumps(s["character"]) for s in samples],
            **{f"pose_{k}": [getattr(s["poses"], k) for s in samples] for k in _POSE_FIELDS},
        }
        path = out_dir / f"world-{first:09d}.pt"
        torch.save(shard, path)
        paths.append(path)
    return paths


def read_shard(path: Path) -> list[dict]:
    """The samples of one shard, in the same form `render_sample` returns."""
    data = torch.load(path, weights_only=True)
    out = []
    for j, index in enumerate(data["index"]):
        camera = json.loads(data["camera"][j])
        out.append(
            {
                "video": data["video"][j],
                "caption": data["caption"][j],
                "camera": camera,
                "spec": CameraSpec.from_dict(camera),
                "labels": json.loads(data["labels"][j]),
                "poses": CameraPoses(**{k: data[f"pose_{k}"][j] for k in _POSE_FIELDS}),
                "character": json.loads(data["character"][j]),
                "index": index,
            }
        )
    return out


class ShardDataset(IterableDataset):
    """Iterates cached shards in order; DataLoader workers split the shard files between them."""

    def __init__(self, directory: Path) -> None:
        self.paths = sorted(Path(directory).glob("world-*.pt"))
        if not self.paths:
            raise ValueError(f"no world shards in {directory}")

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for path in self.paths[start::step]:
            yield from read_shard(path)

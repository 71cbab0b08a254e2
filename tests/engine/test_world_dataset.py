from __future__ import annotations

import subprocess
import sys

import torch

from generation.engine.camera import CameraSpec
from generation.engine.world.dataset import (
    WorldDataset,
    WorldDatasetConfig,
    frame_size,
    render_sample,
)
from generation.engine.world.renderer import RenderConfig

FAST = RenderConfig(motion_blur_samples=1, shadow_samples=1)


def test_samples_are_deterministic_and_complete():
    cfg = WorldDatasetConfig(seed=4, num_frames=4, long_side=32, render=FAST)
    a, b = render_sample(cfg, 3), render_sample(cfg, 3)
    assert torch.equal(a["video"], b["video"]) and a["caption"] == b["caption"]
    assert (
        a["video"].dtype == torch.uint8 and a["video"].shape[0] == 4 and a["video"].shape[-1] == 3
    )
    assert CameraSpec.from_dict(a["camera"]) == a["spec"]
    assert a["poses"].position.shape == (4, 3)
    assert set(a["labels"]) >= {"ground", "mood", "subject", "objects", "characters"}
    assert (a["character"] is None) == (a["labels"]["subject"] != "character")
    assert not torch.equal(a["video"], render_sample(cfg, 4)["video"])


def test_iteration_yields_the_configured_length():
    cfg = WorldDatasetConfig(seed=1, num_frames=2, long_side=24, length=3, render=FAST)
    items = list(WorldDataset(cfg))
    assert [x["index"] for x in items] == [0, 1, 2]


def test_frame_size_follows_the_aspect_ratio():
    assert frame_size("16:9", 128) == (72, 128)
    assert frame_size("9:16", 128) == (128, 72)
    assert frame_size("1:1", 64) == (64, 64)


def test_engine_import_leaves_django_out():
    code = "import sys, generation.engine.world.dataset, generation.engine.metrics; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shards_read_back_exactly_what_was_rendered(tmp_path):
    from generation.engine.world.shards import ShardDataset, write_shards

    cfg = WorldDatasetConfig(seed=2, num_frames=3, long_side=24, render=FAST)
    paths = write_shards(cfg, tmp_path, count=3, shard_size=2)
    assert [p.name for p in paths] == ["world-000000000.pt", "world-000000002.pt"]
    items = list(ShardDataset(tmp_path))
    assert [x["index"] for x in items] == [0, 1, 2]
    fresh = render_sample(cfg, 1)
    assert torch.equal(items[1]["video"], fresh["video"])
    assert items[1]["caption"] == fresh["caption"] and items[1]["spec"] == fresh["spec"]
    assert items[1]["labels"] == fresh["labels"] and items[1]["character"] == fresh["character"]
    assert torch.equal(items[1]["poses"].rotation, fresh["poses"].rotation)

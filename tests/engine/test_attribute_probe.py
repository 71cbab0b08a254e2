"""The shipped attribute probe reads what an unseen world character wears from a whole frame,
sharp or as soft as a painted keyframe, at any size the frame is delivered at."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from generation.engine.attribute_probe import ATTRIBUTES, load_probe, probe_input, read_attributes
from generation.engine.training.attribute_probe import shrink
from generation.engine.world.characters import random_identity
from generation.engine.world.portraits import CharacterView, render_character_view

# A world seed the probe never saw (it trained on seed 11 and measured itself on 9011).
SEED = 5_353


@functools.cache
def _views(count: int = 24) -> list[CharacterView]:
    g = torch.Generator().manual_seed(SEED)
    return [render_character_view(random_identity(g), g) for _ in range(count)]


def _accuracy(reads: list[dict[str, str]], views: list[CharacterView], key: str) -> float:
    return sum(r[key] == getattr(v.identity, key) for r, v in zip(reads, views, strict=True)) / len(
        views
    )


@pytest.fixture(scope="module")
def probe():
    return load_probe()


def test_shirt_and_trouser_colours_of_unseen_characters_are_read_from_whole_frames(probe):
    views = _views()
    reads = [read_attributes(probe, v.frame[None])[0] for v in views]
    # 12 colours: chance is 8 %.
    for key in ("shirt", "trousers"):
        assert _accuracy(reads, views, key) >= 0.6, key


def test_a_frame_as_soft_as_a_painted_keyframe_still_reads(probe):
    views = _views()
    reads = []
    for v in views:
        soft = shrink(v.frame[None].permute(0, 3, 1, 2).float())
        reads.append(
            read_attributes(probe, soft.round().clamp(0, 255).byte().permute(0, 2, 3, 1))[0]
        )
    for key in ("shirt", "trousers"):
        assert _accuracy(reads, views, key) >= 0.5, key


def test_a_delivered_frame_reads_as_its_render_does(probe):
    """A take is delivered at 720p; the probe scales it to the size it was trained at."""
    views = _views()[:8]
    small = [read_attributes(probe, v.frame[None])[0] for v in views]
    big = []
    for v in views:
        x = v.frame[None].permute(0, 3, 1, 2).float()
        x = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        big.append(read_attributes(probe, x.round().byte().permute(0, 2, 3, 1))[0])
    agree = sum(a == b for a, b in zip(small, big, strict=True))
    assert agree >= 6
    assert all(set(r) == set(ATTRIBUTES) for r in big)


def test_malformed_frames_are_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        probe_input(torch.zeros(48, 86, 3, dtype=torch.uint8))

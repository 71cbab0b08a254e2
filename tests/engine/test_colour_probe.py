from __future__ import annotations

import torch

from generation.engine.colour_probe import absent_colours, colour_probe, named_colours
from generation.engine.training.keyframe_data import HELD_OUT_SEED, render_keyframe


def test_a_frame_painted_red_shows_red_and_not_blue() -> None:
    frame = torch.full((1, 32, 32, 3), 90, dtype=torch.uint8)
    frame[:, 8:20, 8:20] = torch.tensor([200, 30, 30], dtype=torch.uint8)
    assert colour_probe(frame, ["red"])
    assert not colour_probe(frame, ["blue"])


def test_noise_and_grey_show_no_colour() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (2, 32, 32, 3), generator=g, dtype=torch.uint8)
    grey = torch.full((1, 32, 32, 3), 128, dtype=torch.uint8)
    for colour in ("red", "blue", "green", "yellow"):
        assert not colour_probe(noise, [colour])
        assert not colour_probe(grey, [colour])


def test_world_renders_show_their_captions_colour_more_often_than_an_absent_one() -> None:
    found = absent_found = named = 0
    for i in range(40):
        s = render_keyframe(HELD_OUT_SEED, i)
        colours = named_colours(s["labels"]["subject_phrase"])
        absent = absent_colours(s["labels"], s["caption"])
        frame = s["rgb"][None]
        if colours:
            named += 1
            found += colour_probe(frame, colours)
        if absent:
            absent_found += colour_probe(frame, absent[:1])
    assert named >= 10
    assert found / named > absent_found / 40 + 0.2

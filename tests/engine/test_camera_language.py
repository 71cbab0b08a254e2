from __future__ import annotations

import pytest
import torch

from generation.engine.camera import CameraMove
from generation.engine.camera_language import parse_camera_language
from generation.engine.world.captions import caption_for
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec


@pytest.mark.parametrize(
    ("text", "move"),
    [
        ("slow push-in on the dancer", CameraMove("dolly", "in", 0.5)),
        ("Dolly in on her face", CameraMove("dolly", "in")),
        ("pull back to reveal the city", CameraMove("dolly", "out")),
        ("crane up over the crowd", CameraMove("crane", "up")),
        ("boom down", CameraMove("crane", "down")),
        ("handheld, gritty", CameraMove("handheld")),
        ("orbit left around the statue", CameraMove("orbit", "left")),
        ("arc right", CameraMove("orbit", "right")),
        ("whip pan right to the door", CameraMove("pan", "right", 5.0)),
        ("pans left across the valley", CameraMove("pan", "left")),
        ("tilt up to the sky", CameraMove("tilt", "up")),
        ("truck left along the wall", CameraMove("truck", "left")),
        ("fast zoom in", CameraMove("zoom", "in", 2.0)),
        ("steadicam follow forward", CameraMove("steadicam", "forward")),
        ("locked-off frame of the door", CameraMove()),
    ],
)
def test_hand_written_moves(text, move):
    parsed = parse_camera_language(text)
    assert parsed.moves == (move,)
    assert [s.field for s in parsed.spans] == ["moves"]


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("shot on 85mm", "focal_mm", 85.0),
        ("a 24 mm lens", "focal_mm", 24.0),
        ("wide-angle lens", "focal_mm", 24.0),
        ("at f/1.4", "aperture", 1.4),
        ("f2.8", "aperture", 2.8),
        ("shallow depth of field", "aperture", 1.8),
        ("deep focus", "aperture", 11.0),
        ("180° shutter", "shutter_deg", 180.0),
        ("a 90-degree shutter", "shutter_deg", 90.0),
        ("anamorphic 2.39:1", "aspect", "2.39:1"),
        ("vertical 9:16 for phones", "aspect", "9:16"),
        ("in 4:3", "aspect", "4:3"),
        ("focus at 3 m", "focus_m", 3.0),
    ],
)
def test_hand_written_lens_and_format(text, field, value):
    parsed = parse_camera_language(text)
    assert getattr(parsed, field) == value
    assert all(text[s.start : s.end].strip() for s in parsed.spans)


def test_spans_point_at_the_words_and_compose_moves():
    text = "Slow push-in and crane up on the figure in the red shirt, 85mm, f/1.4"
    parsed = parse_camera_language(text)
    assert [text[s.start : s.end] for s in parsed.spans] == [
        "Slow push-in",
        "crane up",
        "85mm",
        "f/1.4",
    ]
    assert [s.label for s in parsed.spans] == ["dolly in · slow", "crane up", "85 mm", "f/1.4"]
    spec = parsed.to_spec()
    assert [m.label for m in spec.moves] == ["dolly in", "crane up"]
    assert spec.focal_mm == 85 and spec.aperture == 1.4


def test_out_of_range_values_become_errors_not_fields():
    parsed = parse_camera_language("9mm lens at f/0.7 with a 20° shutter")
    assert parsed.focal_mm is None and parsed.aperture is None and parsed.shutter_deg is None
    assert parsed.errors == (
        "focal length must be 14–200 mm, got 9",
        "aperture must be f/1.2–f/16, got f/0.7",
        "shutter angle must be 45–360°, got 20",
    )


def test_generated_captions_round_trip_to_their_spec():
    for seed in range(150):
        g = torch.Generator().manual_seed(seed)
        spec = random_camera_spec(g, compose_probability=0.3)
        scene = sample_scene(g, focal_mm=spec.focal_mm)
        caption = caption_for(scene, spec, g)
        back = parse_camera_language(caption).to_spec()
        assert back.focal_mm == spec.focal_mm, caption
        assert back.aperture == spec.aperture, caption
        assert back.shutter_deg == spec.shutter_deg, caption
        assert back.aspect == spec.aspect, caption
        got = [(m.kind, m.direction, m.speed, m.easing) for m in back.moves]
        want = [(m.kind, m.direction, m.speed, m.easing) for m in spec.moves]
        assert got == want, caption

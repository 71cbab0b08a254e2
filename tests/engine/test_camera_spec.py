from __future__ import annotations

import json
import math

import pytest
import torch

from generation.engine.camera import (
    ASPECT_RATIOS,
    BasePose,
    CameraMove,
    CameraSpec,
    Keyframe,
    camera_pose_at,
    camera_poses,
    circle_of_confusion_px,
    field_of_view_deg,
    focal_length_px,
    project_points,
    sensor_size_mm,
)


def test_spec_round_trips_through_json():
    spec = CameraSpec(
        focal_mm=85,
        aperture=1.4,
        focus_m=3.5,
        shutter_deg=270,
        aspect="2.39:1",
        moves=(CameraMove("crane", "up", 0.5, "ease_in_out"), CameraMove("dolly", "in", 2.0)),
        keyframes=(
            Keyframe(0.0, (0, 1, -5), (0, 1, 0), 35.0),
            Keyframe(2.0, (1, 2, -4), (0, 1, 0)),
        ),
        interpolation="linear",
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert CameraSpec.from_dict(data) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"focal_mm": 9}, "focal length must be 14–200 mm, got 9"),
        ({"focal_mm": 250}, "focal length must be 14–200 mm, got 250"),
        ({"aperture": 0.95}, "aperture must be f/1.2–f/16, got f/0.95"),
        ({"aperture": 22}, "aperture must be f/1.2–f/16, got f/22"),
        ({"shutter_deg": 30}, "shutter angle must be 45–360°, got 30"),
        ({"aspect": "3:2"}, "aspect ratio must be one of 16:9, 2.39:1, 1:1, 9:16, 4:3, got '3:2'"),
        ({"moves": (CameraMove("pan", "left"), CameraMove("pan", "right"))}, "each move kind"),
    ],
)
def test_out_of_range_values_are_rejected_with_readable_messages(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CameraSpec(**kwargs)


def test_move_validation_names_the_allowed_directions():
    with pytest.raises(ValueError, match="dolly direction must be in or out, got 'left'"):
        CameraMove("dolly", "left")
    with pytest.raises(ValueError, match="camera move must be one of"):
        CameraMove("spin")


def test_from_dict_rejects_bad_values_too():
    with pytest.raises(ValueError, match="focal length"):
        CameraSpec.from_dict({"focal_mm": 5})


def test_sensor_crop_keeps_full_frame_width_for_wide_ratios():
    assert sensor_size_mm(16 / 9) == pytest.approx((36.0, 20.25))
    assert sensor_size_mm(2.39) == pytest.approx((36.0, 36 / 2.39))
    assert sensor_size_mm(1.0) == pytest.approx((24.0, 24.0))
    assert sensor_size_mm(9 / 16) == pytest.approx((20.25, 36.0))
    # 50 mm on a 36 mm wide gate: the classic 39.6° horizontal field of view.
    assert field_of_view_deg(50, 16 / 9)[0] == pytest.approx(39.598, abs=1e-3)


@pytest.mark.parametrize("aspect", list(ASPECT_RATIOS))
@pytest.mark.parametrize("focal", [14.0, 35.0, 85.0, 200.0])
def test_projection_is_the_pinhole_formula(aspect, focal):
    width = 96
    height = round(width / ASPECT_RATIOS[aspect])
    pose = camera_poses(
        CameraSpec(focal_mm=focal, aspect=aspect), 1, 24, BasePose((0, 1, -5), (0, 1, 0))
    )
    point = torch.tensor([[0.3, 1.2, 2.0]])
    uv, z = project_points(point, pose.position[0], pose.rotation[0], focal, width, height)
    sensor_w, _ = sensor_size_mm(width / height)
    # Camera at z = -5 looking down +z: right is -x, down is -y in world terms.
    f_px = focal * width / sensor_w
    assert z.item() == pytest.approx(7.0, abs=1e-5)
    assert uv[0, 0].item() == pytest.approx(width / 2 + f_px * (-0.3) / 7.0, abs=1e-3)
    assert uv[0, 1].item() == pytest.approx(height / 2 + f_px * (-0.2) / 7.0, abs=1e-3)


def test_circle_of_confusion_grows_with_defocus_and_shrinks_with_f_number():
    depths = torch.tensor([5.0, 5.5, 7.0, 12.0, math.inf])
    wide = circle_of_confusion_px(depths, 5.0, 50.0, 1.4, 256, 144)
    narrow = circle_of_confusion_px(depths, 5.0, 50.0, 8.0, 256, 144)
    assert wide[0].item() == pytest.approx(0.0, abs=1e-6)
    assert torch.all(wide[1:] > wide[:-1])
    # Blur diameter is inversely proportional to the f-number (aperture diameter f / N).
    assert torch.allclose(wide[1:] / narrow[1:], torch.full((4,), 8.0 / 1.4))
    assert torch.all(narrow[1:] < wide[1:])


def test_pan_turns_the_camera_in_place_and_dolly_moves_it_along_the_view():
    base = BasePose((0, 1.5, -6), (0, 1.5, 0))
    pan = camera_poses(CameraSpec(moves=(CameraMove("pan", "left"),)), 24, 24, base)
    assert torch.allclose(pan.position, pan.position[0].expand_as(pan.position))
    # Turning left from +z looks towards +x in this world (right vector is -x).
    assert pan.rotation[-1, 0, 2] > 0.15
    dolly = camera_poses(CameraSpec(moves=(CameraMove("dolly", "in"),)), 24, 24, base)
    travel = dolly.position[-1] - dolly.position[0]
    assert travel[2] > 0.5 and abs(travel[0]) < 1e-5 and abs(travel[1]) < 1e-5


def test_orbit_keeps_the_target_centred_and_its_distance():
    base = BasePose((0, 1.0, -6), (0, 1.0, 0))
    poses = camera_poses(CameraSpec(moves=(CameraMove("orbit", "left", 2.0),)), 24, 24, base)
    target = torch.tensor([0.0, 1.0, 0.0])
    dist = (poses.position - target).norm(dim=-1)
    assert torch.allclose(dist, torch.full_like(dist, 6.0), atol=1e-4)
    to_target = (target - poses.position) / dist[:, None]
    assert torch.allclose((to_target * poses.rotation[:, :, 2]).sum(-1), torch.ones(24), atol=1e-5)


def test_zoom_changes_only_the_focal_length():
    poses = camera_poses(CameraSpec(focal_mm=35, moves=(CameraMove("zoom", "in"),)), 24, 24)
    assert poses.focal_mm[-1] > 35 * 1.4
    assert torch.allclose(poses.position, poses.position[0].expand_as(poses.position))


def test_composed_moves_add_up():
    base = BasePose((0, 1.0, -6), (0, 1.0, 0))
    both = camera_poses(
        CameraSpec(moves=(CameraMove("crane", "up"), CameraMove("dolly", "in"))), 12, 24, base
    )
    crane = camera_poses(CameraSpec(moves=(CameraMove("crane", "up"),)), 12, 24, base)
    dolly = camera_poses(CameraSpec(moves=(CameraMove("dolly", "in"),)), 12, 24, base)
    start = both.position[0]
    assert torch.allclose(
        both.position - start, (crane.position - start) + (dolly.position - start), atol=1e-5
    )


@pytest.mark.parametrize("interpolation", ["linear", "smooth"])
def test_keyframed_path_passes_through_its_keyframes(interpolation):
    keys = (
        Keyframe(0.0, (0, 1, -6), (0, 1, 0), focal_mm=24, focus_m=6),
        Keyframe(0.5, (2, 1.5, -5), (0, 1, 0), focal_mm=50),
        Keyframe(1.25, (3, 2.5, -2), (0, 0.5, 0), focal_mm=85, focus_m=3),
    )
    spec = CameraSpec(keyframes=keys, interpolation=interpolation)
    poses = camera_pose_at(spec, torch.tensor([0.0, 0.5, 1.25]), 1.25)
    for i, key in enumerate(keys):
        assert torch.allclose(
            poses.position[i], torch.tensor(key.position, dtype=torch.float32), atol=1e-5
        )
        look = torch.tensor(key.look_at) - torch.tensor(key.position, dtype=torch.float32)
        assert torch.allclose(poses.rotation[i, :, 2], look / look.norm(), atol=1e-5)
        assert poses.focal_mm[i].item() == pytest.approx(key.focal_mm)
    assert poses.focus_m[0].item() == pytest.approx(6.0)
    assert poses.focus_m[2].item() == pytest.approx(3.0)


def test_handheld_shakes_without_drifting_and_replays_per_seed():
    spec = CameraSpec(moves=(CameraMove("handheld", seed=3),))
    a = camera_poses(spec, 48, 24)
    b = camera_poses(spec, 48, 24)
    assert torch.equal(a.position, b.position)
    offset = (a.position - torch.tensor(BasePose().position)).norm(dim=-1)
    assert offset.max() > 0.005 and offset.max() < 0.1


def test_focal_length_in_pixels_uses_the_cropped_gate():
    assert focal_length_px(36.0, 64, 36) == pytest.approx(64.0)
    assert focal_length_px(24.0, 64, 64) == pytest.approx(64.0)


def test_random_zooms_leave_the_lens_room_to_zoom():
    # A zoom in from 200 mm would clamp at the lens's end: a still frame captioned "zoom in".
    from generation.engine.camera import camera_poses
    from generation.engine.world.specs import random_camera_spec

    for seed in range(200):
        spec = random_camera_spec(torch.Generator().manual_seed(seed), move="zoom")
        focal = camera_poses(spec, 16, 24).focal_mm
        change = float(focal[-1] / focal[0])
        assert change > 1.1 if spec.primary_move.direction == "in" else change < 1 / 1.1, spec

"""The 3D cache renderer: its camera is the camera spec's own geometry, exactly."""

from __future__ import annotations

import math

import pytest
import torch

from generation.engine.cache import lift, merge, render_along, render_points
from generation.engine.cache.overscan import MAX_OVERSCAN, overscan
from generation.engine.cache.points import SKY_M
from generation.engine.camera import (
    BasePose,
    CameraMove,
    CameraSpec,
    camera_pose_at,
    focal_length_px,
)
from generation.engine.native import keyframe_size


def _texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8)


def _pose(spec: CameraSpec, base: BasePose, t: float = 0.0, duration: float = 1.0):
    return camera_pose_at(spec, torch.tensor([t]), duration, base)


BASE = BasePose(position=(0.0, 1.0, 0.0), look_at=(0.0, 1.0, 5.0))


def test_a_keyframe_seen_from_its_own_pose_comes_back_exactly():
    rgb = _texture(24, 40)
    depth = torch.full((24, 40), 5.0)
    depth[8:16, 10:20] = 2.0  # a nearer box in front
    spec = CameraSpec(focal_mm=50.0)
    pose = _pose(spec, BASE)
    cache = lift(rgb, depth, pose.position[0], pose.rotation[0], 50.0)
    out = render_points(cache, pose, (24, 40))
    assert bool(out.mask.all())
    assert torch.equal(out.frames_u8()[0], rgb)
    assert torch.allclose(out.depth[0], depth, rtol=1e-4)


def test_the_sky_turns_with_a_pan_by_the_lens_geometry_and_does_not_translate():
    """A point at infinity moves by f_px * tan(angle) under a pan of that angle."""
    h, w = 32, 64
    rgb = torch.zeros(h, w, 3, dtype=torch.uint8)
    rgb[:, 31:33] = 255  # a bright vertical line at the centre, on the sky
    depth = torch.full((h, w), math.inf)
    spec = CameraSpec(focal_mm=35.0, moves=(CameraMove("pan", "left", speed=1.0),))
    poses = camera_pose_at(spec, torch.tensor([0.0, 1.0]), 1.0, BASE)
    cache = lift(rgb, depth, poses.position[0], poses.rotation[0], 35.0, oversample=4)
    out = render_points(cache, poses, (h, w))
    col = out.frames[1, h // 2, :, 0]
    centre = float((col * torch.arange(w)).sum() / col.sum()) + 0.5
    # Pan left: the camera turns left, so the world (the line) moves right in the frame.
    expected = w / 2 + focal_length_px(35.0, w, h) * math.tan(math.radians(12.0))
    assert centre == pytest.approx(expected, abs=0.5)
    # Sky points sit at SKY_M, far enough that a 1 m truck moves them by under a pixel.
    assert SKY_M * 1e-3 >= 1.0


def test_a_zoom_magnifies_by_the_focal_ratio():
    h, w = 48, 48
    rgb = torch.zeros(h, w, 3, dtype=torch.uint8)
    rgb[20:28, 20:28] = 255  # an 8-pixel square at the centre of a wall 4 m away
    depth = torch.full((h, w), 4.0)
    spec = CameraSpec(focal_mm=50.0, moves=(CameraMove("zoom", "in"),))
    poses = camera_pose_at(spec, torch.tensor([0.0, 1.0]), 1.0, BASE)
    ratio = float(poses.focal_mm[1] / poses.focal_mm[0])
    cache = lift(rgb, depth, poses.position[0], poses.rotation[0], 50.0, oversample=4)
    out = render_points(cache, poses, (h, w))
    width0 = float((out.frames[0, h // 2, :, 0] > 0.5).sum())
    width1 = float((out.frames[1, h // 2, :, 0] > 0.5).sum())
    assert ratio == pytest.approx(1.6, rel=1e-3)
    assert width1 / width0 == pytest.approx(ratio, abs=0.15)


def test_a_dolly_in_magnifies_a_wall_by_its_distance_ratio_and_leaves_no_holes():
    h, w = 40, 40
    rgb = torch.zeros(h, w, 3, dtype=torch.uint8)
    rgb[16:24, 16:24] = 255
    depth = torch.full((h, w), 4.0)
    spec = CameraSpec(focal_mm=35.0, moves=(CameraMove("dolly", "in"),))  # 0.8 m in one second
    poses = camera_pose_at(spec, torch.tensor([0.0, 1.0]), 1.0, BASE)
    cache = lift(rgb, depth, poses.position[0], poses.rotation[0], 35.0)
    out = render_points(cache, poses, (h, w))
    width0 = float((out.frames[0, h // 2, :, 0] > 0.5).sum())
    width1 = float((out.frames[1, h // 2, :, 0] > 0.5).sum())
    assert width1 / width0 == pytest.approx(4.0 / 3.2, abs=0.13)
    assert bool(out.mask[1].all()), "points spread apart by a move closer must still cover"


def test_the_nearer_surface_wins_the_z_test_whichever_cache_it_comes_from():
    h, w = 16, 16
    pose = _pose(CameraSpec(), BASE)
    far = lift(
        torch.full((h, w, 3), 200, dtype=torch.uint8),
        torch.full((h, w), 8.0),
        pose.position[0],
        pose.rotation[0],
        35.0,
    )
    near = lift(
        torch.full((h, w, 3), 50, dtype=torch.uint8),
        torch.full((h, w), 3.0),
        pose.position[0],
        pose.rotation[0],
        35.0,
    )
    for cache in (merge(far, near), merge(near, far)):
        out = render_points(cache, pose, (h, w))
        assert torch.all(out.frames_u8()[0] == 50)


def test_a_pan_leaves_a_hole_on_the_side_it_turns_towards():
    h, w = 24, 48
    spec = CameraSpec(moves=(CameraMove("pan", "right", speed=2.0),))
    shot = render_along(
        spec,
        _texture(h, w),
        torch.full((h, w), 6.0),
        num_frames=24,
        fps=24.0,
        size=(h, w),
        base=BASE,
    )
    last = shot.render.mask[-1]
    assert bool(shot.render.mask[0].all())
    assert not bool(last[:, -2:].any()), "turning right uncovers the right edge"
    assert bool(last[:, :4].all())


def test_a_camera_that_has_passed_everything_it_cached_sees_only_holes():
    h, w = 12, 16
    spec = CameraSpec(moves=(CameraMove("dolly", "in", speed=8.0),))
    shot = render_along(
        spec,
        _texture(h, w),
        torch.full((h, w), 1.0),
        num_frames=24,
        fps=24.0,
        size=(h, w),
        base=BASE,
    )
    assert bool(shot.render.mask[0].all())
    assert not bool(shot.render.mask[-1].any())
    assert torch.isinf(shot.render.depth[-1]).all()


def _wall_pullback(speed: float):
    """A dolly out from a textured wall 5 m ahead, over one second."""
    spec = CameraSpec(focal_mm=50.0, moves=(CameraMove("dolly", "out", speed=speed),))
    poses = camera_pose_at(spec, torch.arange(24).double() / 24.0, 1.0, BASE)
    return spec, poses


def test_overscan_widens_a_pull_back_by_its_distance_ratio_and_a_static_shot_not_at_all():
    still = camera_pose_at(CameraSpec(focal_mm=50.0), torch.zeros(4), 1.0, BASE)
    assert overscan(still, 0, 5.0, "16:9") == pytest.approx(1.0)
    _, poses = _wall_pullback(speed=0.5)
    back = float(poses.position[0, 2] - poses.position[-1, 2])
    assert back > 0
    assert overscan(poses, 0, 5.0, "16:9") == pytest.approx((5.0 + back) / 5.0, rel=1e-3)
    _, far = _wall_pullback(speed=8.0)
    assert overscan(far, 0, 5.0, "16:9") == MAX_OVERSCAN


def test_an_overscanned_keyframe_leaves_a_pull_back_no_holes_where_a_framed_one_does():
    h, w = keyframe_size("16:9")
    spec, poses = _wall_pullback(speed=0.5)
    widen = overscan(poses, 0, 5.0, "16:9")
    wall = torch.full((h, w), 5.0)
    common = {"num_frames": 24, "fps": 24.0, "size": (h, w), "base": BASE}
    framed = render_along(spec, _texture(h, w), wall, **common)
    wide = render_along(spec, _texture(h, w), wall, keyframe_focal_mm=50.0 / widen, **common)
    assert not bool(framed.render.mask[-1].all()), "the pull-back uncovers the frame's border"
    assert bool(wide.render.mask.all())

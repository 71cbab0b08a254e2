"""The optics stage: the spec's aperture and shutter angle act as a real lens and shutter do."""

from __future__ import annotations

import torch

from generation.engine.camera import BasePose, CameraMove, CameraSpec
from generation.engine.pipeline.optics import depth_of_field, fill_depth, motion_blur
from generation.engine.pipeline.path import ShotPath

BASE = BasePose(position=(0.0, 1.0, 0.0), look_at=(0.0, 1.0, 3.0))


def _texture(t: int, h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(t, h, w, 3, generator=g)


def _detail(frames: torch.Tensor) -> float:
    """Mean absolute horizontal gradient: what blur takes away."""
    return float((frames[:, :, 1:] - frames[:, :, :-1]).abs().mean())


def test_a_wide_aperture_blurs_out_of_focus_depth_more_than_a_narrow_one():
    frames = _texture(1, 32, 48)
    depth = torch.full((1, 32, 48), 20.0)  # background far behind a subject at 3 m
    detail = {}
    for aperture in (1.4, 11.0):
        path = ShotPath(CameraSpec(focal_mm=85.0, aperture=aperture), BASE, 1, 24.0)
        poses = path.at_frames(torch.arange(1))
        assert float(poses.focus_m[0]) == 3.0  # focus follows the subject
        detail[aperture] = _detail(depth_of_field(frames, depth, poses, aperture))
    assert detail[1.4] < 0.5 * detail[11.0]
    in_focus = torch.full((1, 32, 48), 3.0)
    sharp = depth_of_field(frames, in_focus, poses, 1.4)
    assert _detail(sharp) > 0.95 * _detail(frames)


def test_a_360_degree_shutter_blurs_a_pan_more_than_a_45_degree_one():
    frames = _texture(2, 32, 48)
    depth = torch.full((2, 32, 48), 10.0)
    detail = {}
    for shutter in (45.0, 360.0):
        spec = CameraSpec(shutter_deg=shutter, moves=(CameraMove("pan", "left", speed=5.0),))
        path = ShotPath(spec, BASE, 2, 24.0)
        idx = torch.arange(2)
        out = motion_blur(frames, depth, path.at_frames(idx), path.during_exposure(idx, 8), 8)
        detail[shutter] = _detail(out)
    assert detail[360.0] < 0.8 * detail[45.0]


def test_a_static_camera_has_no_motion_blur():
    frames = _texture(2, 16, 16)
    depth = torch.full((2, 16, 16), 10.0)
    path = ShotPath(CameraSpec(shutter_deg=360.0), BASE, 2, 24.0)
    idx = torch.arange(2)
    out = motion_blur(frames, depth, path.at_frames(idx), path.during_exposure(idx, 4), 4)
    assert torch.allclose(out, frames, atol=2e-3)  # the linear-light round trip only


def test_holes_take_the_depth_around_them():
    depth = torch.full((1, 8, 8), 4.0)
    depth[0, :, :4] = 2.0
    depth[0, 3:5, 3:5] = float("inf")
    filled = fill_depth(depth)
    assert torch.isfinite(filled).all()
    assert float(filled[0, 4, 3]) == 2.0  # the nearer neighbour wins the hole's edge


def test_a_looping_path_comes_back_to_where_it_started():
    spec = CameraSpec(moves=(CameraMove("dolly", "in"),))
    path = ShotPath(spec, BASE, 24, 24.0, loop=True)
    poses = path.at_frames(torch.tensor([0, 12, 23, 24]))
    assert torch.allclose(poses.position[0], poses.position[3], atol=1e-6)
    step = (poses.position[2] - poses.position[3]).norm()
    assert (poses.position[1] - poses.position[0]).norm() > 10 * step

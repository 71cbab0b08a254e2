from __future__ import annotations

import torch

from generation.engine.camera import BasePose, CameraMove, CameraSpec, camera_poses, project_points

BASE = BasePose((0.0, 1.5, -6.0), (0.0, 1.0, 0.0))
W, H = 64, 36


def _track(move: CameraMove, points: torch.Tensor, focal: float = 35.0) -> torch.Tensor:
    """(T, N, 2) image positions of world points through a move."""
    poses = camera_poses(CameraSpec(focal_mm=focal, moves=(move,)), 16, 24, BASE)
    return torch.stack(
        [
            project_points(
                points, poses.position[t], poses.rotation[t], float(poses.focal_mm[t]), W, H
            )[0]
            for t in range(16)
        ]
    )


GRID = torch.tensor([[x, y, z] for x in (-1.0, 0.0, 1.0) for y in (0.5, 1.5) for z in (-1.0, 1.0)])
CENTRE = torch.tensor([W / 2, H / 2])


def test_dolly_in_expands_the_image_about_the_centre():
    uv = _track(CameraMove("dolly", "in"), GRID)
    centre = project_points(BASE_LOOK := torch.tensor([[0.0, 1.0, 0.0]]), *_pose0(), 35.0, W, H)[0][
        0
    ]
    r0 = (uv[0] - centre).norm(dim=-1)
    r1 = (uv[-1] - centre).norm(dim=-1)
    assert torch.all(r1 > r0)
    # The look-at point stays put while everything else expands away from it.
    assert torch.allclose(_track(CameraMove("dolly", "in"), BASE_LOOK)[-1, 0], centre, atol=1e-3)


def _pose0():
    poses = camera_poses(CameraSpec(), 1, 24, BASE)
    return poses.position[0], poses.rotation[0]


def test_zoom_scales_about_the_image_centre_regardless_of_depth():
    uv = _track(CameraMove("zoom", "in"), GRID)
    poses = camera_poses(CameraSpec(moves=(CameraMove("zoom", "in"),)), 16, 24, BASE)
    ratio = float(poses.focal_mm[-1] / poses.focal_mm[0])
    assert torch.allclose(uv[-1] - CENTRE, (uv[0] - CENTRE) * ratio, atol=1e-3)


def test_pan_shifts_near_and_far_alike():
    near = torch.tensor([[0.3, 1.0, -3.0]])
    far = torch.tensor([[8.0, 1.0, 60.0]])
    uv = _track(CameraMove("pan", "left"), torch.cat([near, far]))
    shift = uv[-1] - uv[0]
    assert shift[0, 0] > 2 and shift[1, 0] > 2  # content slides right when the camera pans left
    assert abs(float(shift[0, 0] - shift[1, 0])) < 0.15 * float(shift[0, 0])


def test_truck_moves_near_things_more_than_far_things():
    near = torch.tensor([[0.0, 1.0, -3.0]])
    far = torch.tensor([[0.0, 1.0, 60.0]])
    uv = _track(CameraMove("truck", "left"), torch.cat([near, far]))
    shift = uv[-1] - uv[0]
    assert shift[0, 0] > 5 * abs(float(shift[1, 0])) and shift[0, 0] > 0


def test_orbit_parallaxes_foreground_against_background():
    near = torch.tensor([[0.0, 1.0, -3.0]])  # between camera and target
    far = torch.tensor([[0.0, 1.0, 30.0]])  # beyond the target
    uv = _track(CameraMove("orbit", "left"), torch.cat([near, far]))
    shift = uv[-1, :, 0] - uv[0, :, 0]
    assert shift[0] * shift[1] < 0 and abs(float(shift[0])) > 1 and abs(float(shift[1])) > 1


def test_crane_up_and_tilt_up_move_content_down():
    for move in (CameraMove("crane", "up"), CameraMove("tilt", "up")):
        uv = _track(move, torch.tensor([[0.0, 1.0, 0.0]]))
        assert uv[-1, 0, 1] > uv[0, 0, 1] + 1

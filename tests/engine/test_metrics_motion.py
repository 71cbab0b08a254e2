from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.metrics import (
    TX,
    TY,
    ZOOM,
    camera_conformance,
    detect_move,
    estimate_camera_motion,
)
from generation.engine.optical_flow import (
    fit_similarity,
    half_width_coordinates,
    optical_flow,
    texture_weight,
)


def _texture(h: int = 96, w: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 1, h // 4, w // 4, generator=g)
    return F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _warp_sequence(affine_per_frame, frames: int = 8, size: int = 64) -> torch.Tensor:
    """(T, 3, H, W) float frames of a texture moved by accumulated affine steps."""
    tex = _texture()
    out = []
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for _ in range(frames):
        grid = F.affine_grid(
            theta[None] * torch.tensor([[[0.66, 0.66, 1.0], [0.66, 0.66, 1.0]]]),
            (1, 1, size, size),
            align_corners=False,
        )
        out.append(F.grid_sample(tex, grid, align_corners=False)[0].expand(3, -1, -1))
        theta = affine_per_frame(theta)
    return torch.stack(out)


def _flow_of_one_pixel_shift(tex: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow and confidence from a 64x64 window of `tex` to the same window one pixel right."""
    a = tex[0, 0, 10:74, 10:74]
    b = torch.roll(tex[0, 0], shifts=(0, 1), dims=(0, 1))[10:74, 10:74]
    return optical_flow(torch.stack([a, b]))


def test_flow_recovers_a_known_subpixel_shift():
    flow, conf = _flow_of_one_pixel_shift(_texture())
    inner = flow[0, :, 8:-8, 8:-8]
    assert abs(float(inner[0].median()) - 1.0) < 0.1
    assert abs(float(inner[1].median())) < 0.1
    assert float(conf.mean()) > 0


def test_flow_follows_a_faint_texture_that_texture_weight_still_trusts():
    # A night scene or a defocused lawn: the same texture at a twentieth of the contrast. Its
    # vectors must move with it, not stay at zero while the weight says they count.
    flow, conf = _flow_of_one_pixel_shift(0.2 + 0.05 * _texture())
    trusted = texture_weight(conf)[0] > 0.05
    assert float(trusted.float().mean()) > 0.3
    assert float(flow[0, 0][trusted].median()) == pytest.approx(1.0, abs=0.1)
    assert float(flow[0, 1][trusted].abs().median()) < 0.1


def _shift(dx):
    def step(theta):
        t = theta.clone()
        t[0, 2] -= dx
        return t

    return step


def _scale(s):
    def step(theta):
        t = theta.clone()
        t[:, :2] /= s
        return t

    return step


def test_global_translation_and_zoom_are_measured_with_their_sign():
    right = estimate_camera_motion(_warp_sequence(_shift(0.02)))
    assert float(right.total[TX]) > 0.03 and abs(float(right.total[TY])) < 0.01
    zoom_in = estimate_camera_motion(_warp_sequence(_scale(1.02)))
    assert float(zoom_in.total[ZOOM]) > 0.08 and abs(float(zoom_in.total[TX])) < 0.01


def test_a_still_clip_is_static_and_scores_full_marks_for_a_static_spec():
    frames = (_warp_sequence(lambda t: t) * 255).to(torch.uint8).permute(0, 2, 3, 1)
    assert detect_move(frames).kind == "static"
    score = camera_conformance(frames, CameraSpec())
    assert score.move_match and score.score == 1.0
    wrong = camera_conformance(frames, CameraSpec(moves=(CameraMove("pan", "left"),)))
    assert not wrong.move_match and wrong.score < 0.5


def test_the_similarity_fit_ignores_a_moving_subject_and_leaves_it_in_the_residual():
    # A pan-and-zoom field over the whole frame, and a subject in one corner moving on its own:
    # the fit recovers the camera's similarity, and the residual holds the subject and no more.
    h, w = 48, 64
    xn, yn = half_width_coordinates(h, w)
    xs, ys = xn.reshape(h, w), yn.reshape(h, w)
    tx, ty, zoom, roll = 0.05, -0.02, 0.03, 0.01
    flow = torch.stack([tx + zoom * xs - roll * ys, ty + zoom * ys + roll * xs])[None]
    subject = torch.zeros(h, w, dtype=torch.bool)
    subject[4:16, 6:20] = True
    flow[0, 0][subject] += 0.2
    params, residual = fit_similarity(flow, torch.ones(1, h, w))
    assert torch.allclose(params[0], torch.tensor([tx, ty, zoom, roll]), atol=2e-3)
    assert float(residual[0, 0][subject].mean()) == pytest.approx(0.2, abs=5e-3)
    assert float(residual[0][:, ~subject].abs().max()) < 5e-3

from __future__ import annotations

import torch

from generation.engine.camera import BasePose, CameraMove, CameraSpec, project_points
from generation.engine.world.lighting import Lighting
from generation.engine.world.renderer import RenderConfig, render_clip, subject_mask
from generation.engine.world.scene import Prop, Scene
from generation.engine.world.textures import GroundMaterial

SHARP = RenderConfig(depth_of_field=False, motion_blur_samples=1, shadow_samples=1)


CAMERA = BasePose((0.0, 1.0, -6.0), (0.0, 1.0, 0.0))


def _scene(props, camera=CAMERA) -> Scene:
    return Scene(
        ground=GroundMaterial("checker", scale=0.5),
        lighting=Lighting(cloud_cover=0.0),
        props=tuple(props),
        camera=camera,
    )


def _sharpness(img: torch.Tensor, axis: str = "both") -> float:
    """Gradient energy: blur spreads an edge and lowers it (total variation would not change)."""
    x = img.float().mean(-1)
    gx = ((x[:, 1:] - x[:, :-1]) ** 2).mean()
    gy = ((x[1:] - x[:-1]) ** 2).mean()
    return float(gx if axis == "x" else gx + gy)


def test_rendered_sphere_lands_where_the_pinhole_formula_puts_it():
    centre = (0.8, 1.4, 3.0)
    for focal, (h, w) in [(24.0, (36, 64)), (50.0, (64, 64)), (85.0, (64, 36))]:
        spec = CameraSpec(focal_mm=focal)
        empty = render_clip(_scene([]), spec, num_frames=1, fps=24, height=h, width=w, config=SHARP)
        ball = Prop("sphere", centre, (0.2, 0.2, 0.2), "red", "ball")
        clip = render_clip(
            _scene([ball]), spec, num_frames=1, fps=24, height=h, width=w, config=SHARP
        )
        img = clip.video[0].float()
        changed = (img - empty.video[0].float()).abs().sum(-1) > 30
        mask = changed & (img[..., 0] - img[..., 1] > 25)  # the red ball, not its grey shadow
        ys, xs = torch.nonzero(mask, as_tuple=True)
        uv, _ = project_points(
            torch.tensor([centre]), clip.poses.position[0], clip.poses.rotation[0], focal, w, h
        )
        assert abs((xs.float() + 0.5).mean() - uv[0, 0]) < 0.75
        assert abs((ys.float() + 0.5).mean() - uv[0, 1]) < 0.75


def test_depth_of_field_blurs_with_defocus_and_less_when_stopped_down():
    # A textured box at 6 m in front of a distant sky: focus on it, then focus far away.
    box = Prop("box", (0.0, 1.0, 0.0), (0.6, 0.6, 0.6), "yellow", "crate")
    cfg = RenderConfig(depth_of_field=True, motion_blur_samples=1, shadow_samples=1)

    def render(aperture, focus):
        spec = CameraSpec(focal_mm=85, aperture=aperture, focus_m=focus)
        return render_clip(
            _scene([box]), spec, num_frames=1, fps=24, height=48, width=48, config=cfg
        )

    in_focus = _sharpness(render(1.4, 6.0).video[0])
    slightly_off = _sharpness(render(1.4, 4.0).video[0])
    far_off = _sharpness(render(1.4, 1.5).video[0])
    stopped_down = _sharpness(render(16.0, 1.5).video[0])
    assert in_focus > slightly_off > far_off
    assert stopped_down > far_off
    # Depth buffer is the z-distance to the box face nearest the camera.
    depth = render(1.4, 6.0).depth[0]
    assert abs(float(depth[24, 24]) - 5.4) < 0.05


def test_wider_shutter_angle_gives_more_motion_blur():
    props = [
        Prop("box", (x * 1.2, 1.0, 2.0), (0.3, 0.6, 0.3), "white", "crate") for x in (-2, 0, 2)
    ]
    cfg = RenderConfig(depth_of_field=False, motion_blur_samples=8, shadow_samples=1)
    move = (CameraMove("pan", "left", 5.0),)
    sharp = []
    for shutter in (45.0, 360.0):
        spec = CameraSpec(focal_mm=35, shutter_deg=shutter, moves=move)
        clip = render_clip(
            _scene(props), spec, num_frames=3, fps=24, height=48, width=64, config=cfg
        )
        sharp.append(_sharpness(clip.video[1], axis="x"))
    assert sharp[1] < 0.7 * sharp[0]


def test_rendering_is_deterministic_and_uint8():
    props = [Prop("sphere", (0.0, 1.0, 0.0), (0.5, 0.5, 0.5), "red", "ball")]
    spec = CameraSpec(moves=(CameraMove("handheld", seed=5),))
    a = render_clip(_scene(props), spec, num_frames=3, fps=12, height=24, width=40)
    b = render_clip(_scene(props), spec, num_frames=3, fps=12, height=24, width=40)
    assert a.video.dtype == torch.uint8 and a.video.shape == (3, 24, 40, 3)
    assert torch.equal(a.video, b.video)


def test_the_subject_mask_covers_the_subject_where_it_is_seen_and_not_behind_a_post():
    subject = Prop("sphere", (0.0, 1.0, 0.0), (0.5, 0.5, 0.5), "red", "ball")
    post = Prop("box", (0.0, 1.0, -3.0), (0.1, 2.0, 0.1), "blue", "post")
    dressing = Prop("box", (2.0, 1.0, 2.0), (0.5, 0.5, 0.5), "red", "crate")
    spec = CameraSpec(focal_mm=35.0)
    scene = _scene([subject, dressing])
    clip = render_clip(scene, spec, num_frames=1, fps=24, height=36, width=64, config=SHARP)
    mask = subject_mask(scene, spec, num_frames=1, fps=24, height=36, width=64)
    r, g, b = clip.video[0].float().unbind(-1)
    red = (r > g + 8) & (r > b + 8)  # lit or in its own shade
    assert mask.shape == (36, 64) and 0 < float(mask.mean()) < 0.2
    # Where the mask is whole the frame shows the red ball; the red crate is not the subject.
    assert bool(red[mask == 1].all()) and bool((mask[red] < 1).any())
    hidden = subject_mask(
        _scene([subject, post, dressing]), spec, num_frames=1, fps=24, height=36, width=64
    )
    assert float(hidden.sum()) < float(mask.sum())
    assert float(hidden[:, 30:34].sum()) == 0.0  # the post in front hides the ball's middle

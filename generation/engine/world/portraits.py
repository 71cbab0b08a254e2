"""One world character seen in a random shot, and where the figure sits in the frame.

The identity encoder learns from these views (two views of one character must embed close, two
characters far), and the character-lock benchmark takes its reference frames from them. A view
is a random world scene (ground, light, background props) with the given identity standing at
the origin, through a random lens, aspect and camera move, at a random moment of the shot; the
figure's box is its primitives' extent projected through the frame's camera.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from generation.engine.camera import CameraSpec, project_points
from generation.engine.native import keyframe_size
from generation.engine.world.characters import ACTIONS, Character, CharacterIdentity, pose_character
from generation.engine.world.renderer import RenderConfig, render_clip
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec

VIEW_RENDER = RenderConfig(depth_of_field=True, motion_blur_samples=1, shadow_samples=1)
FRAMES = 24
FPS = 24.0


@dataclass(frozen=True)
class CharacterView:
    """frame: uint8 (H, W, 3); box: the figure's (top, left, bottom, right) in pixels, clipped
    to the frame; caption: what the shot shows, in the world's words."""

    frame: torch.Tensor
    box: tuple[int, int, int, int]
    identity: CharacterIdentity
    focal_mm: float
    move: str

    def crop(self, margin: float = 0.1) -> torch.Tensor:
        """The figure's box grown by `margin` of its height on every side, uint8 (h, w, 3)."""
        top, left, bottom, right = self.box
        pad = round(margin * (bottom - top))
        h, w = self.frame.shape[:2]
        return self.frame[
            max(0, top - pad) : min(h, bottom + pad), max(0, left - pad) : min(w, right + pad)
        ]


def _figure_box(
    character: Character, poses, index: int, time_s: float, height: int, width: int
) -> tuple[float, float, float, float]:
    prims = pose_character(character, np.array([time_s]))
    lo = np.min([p.centre[0] - max(p.size) for p in prims], axis=0)
    hi = np.max([p.centre[0] + max(p.size) for p in prims], axis=0)
    corners = torch.tensor(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])],
        dtype=torch.float32,
    )
    uv, z = project_points(
        corners,
        poses.position[index].float(),
        poses.rotation[index].float(),
        float(poses.focal_mm[index]),
        width,
        height,
    )
    if bool((z <= 0.05).any()):
        return (0.0, 0.0, 0.0, 0.0)
    return (
        float(uv[:, 1].min()),
        float(uv[:, 0].min()),
        float(uv[:, 1].max()),
        float(uv[:, 0].max()),
    )


def render_character_view(
    identity: CharacterIdentity,
    generator: torch.Generator,
    *,
    scale: int = 2,
    move: str | None = None,
    aspect: str | None = None,
    spec: CameraSpec | None = None,
    min_height_px: int = 24,
    tries: int = 8,
) -> CharacterView:
    """A random shot of `identity` whose figure is at least `min_height_px` tall and at least
    two thirds inside the frame (redrawn up to `tries` times, then the last draw is kept).

    Args:
        scale: the frame is the keyframe size of its aspect times this.
        move, aspect: fix the camera move's kind or the frame's aspect (None: any).
        spec: shoot through this camera instead of a random one (`move`, `aspect` unused).
    """
    view = None
    for _ in range(tries):
        shot = spec or random_camera_spec(generator, move=move, aspect=aspect)
        scene = sample_scene(generator, subject_kind="character", focal_mm=shot.focal_mm)
        placed = dataclasses.replace(
            scene.characters[0],
            identity=identity,
            action=ACTIONS[int(torch.randint(0, len(ACTIONS), (), generator=generator))],
        )
        # Keep the camera aimed where this figure's chest is (heights differ per identity).
        camera = dataclasses.replace(scene.camera, look_at=(0.0, identity.height_m * 0.6, 0.0))
        scene = dataclasses.replace(scene, characters=(placed,), camera=camera)
        kh, kw = keyframe_size(shot.aspect)
        height, width = kh * scale, kw * scale
        frame = int(torch.randint(0, FRAMES, (), generator=generator))
        clip = render_clip(
            scene,
            shot,
            num_frames=FRAMES,
            fps=FPS,
            height=height,
            width=width,
            config=VIEW_RENDER,
            frames=[frame],
        )
        top, left, bottom, right = _figure_box(placed, clip.poses, 0, frame / FPS, height, width)
        area = max(1e-6, (bottom - top) * (right - left))
        inside = max(0.0, min(bottom, height) - max(top, 0)) * max(
            0.0, min(right, width) - max(left, 0)
        )
        box = (
            max(0, math.floor(top)),
            max(0, math.floor(left)),
            min(height, math.ceil(bottom)),
            min(width, math.ceil(right)),
        )
        view = CharacterView(clip.video[0], box, identity, shot.focal_mm, shot.moves[0].kind)
        if inside / area >= 2 / 3 and box[2] - box[0] >= min_height_px and box[3] > box[1]:
            return view
    assert view is not None
    return view

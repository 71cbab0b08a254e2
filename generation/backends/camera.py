"""The camera spec, given to an open-weights model in one of two ways.

By geometry: a keyframe (the user's image, the source clip's last frame, or the model's own first
frame), its depth, and the engine's 3D point cache (``generation.engine.cache.render_along``)
rendered along the camera path; the render and the mask of what it sees become Wan VACE's
control video and mask, or LTX's conditioning frames. In words: camera phrases appended to the
prompt, in the phrasings the studio's camera language parser reads (so ``parse_camera_language``
recovers the spec from them; tested).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from generation.engine.cache import render_along
from generation.engine.camera import BasePose, CameraMove, CameraSpec, camera_pose_at
from generation.engine.camera_language import parse_camera_language
from generation.engine.world.captions import move_phrase

DepthFn = Callable[[Tensor, float], Tensor]
"""``depth(rgb, focal_mm)``: uint8 (H, W, 3) seen through a `focal_mm` lens -> float (H, W)
metres."""

RENDER_CHUNK = 16
"""Frames the cache renders at once: its splatting holds (frames x points) tensors."""


def _moves(spec: CameraSpec) -> list[CameraMove]:
    return [m for m in spec.moves if m.kind != "static"] or [CameraMove()]


class _FirstPhrasing(random.Random):
    """Makes the captions' phrase picker take each move's first (plainest) phrasing, so the
    prompt a recipe sends never varies."""

    def choice(self, seq: Any) -> Any:
        return seq[0]


def camera_words(spec: CameraSpec, *, said: str = "") -> str:
    """Camera phrases for `spec`, leaving out what the text `said` already says.

    Moves use the world captions' phrasings; the lens, aperture, shutter and focus follow when
    they are set.
    """
    parsed = parse_camera_language(said) if said else None
    already = {(m.kind, m.direction) for m in parsed.moves} if parsed else set()
    rng = _FirstPhrasing()
    moves = [m for m in _moves(spec) if (m.kind, m.direction) not in already]
    parts = []
    if moves and not (parsed and parsed.moves and moves[0].kind == "static"):
        parts.append(" and ".join(move_phrase(m, rng) for m in moves))
    if parsed is None or parsed.focal_mm is None:
        parts.append(f"{spec.focal_mm:g}mm lens")
    if parsed is None or parsed.aperture is None:
        if spec.aperture <= 2.8:
            parts.append(f"shallow depth of field at f/{spec.aperture:g}")
        elif spec.aperture >= 8:
            parts.append(f"deep focus at f/{spec.aperture:g}")
    if spec.shutter_deg != 180 and (parsed is None or parsed.shutter_deg is None):
        parts.append(f"{spec.shutter_deg:g}° shutter")
    if spec.focus_m is not None and (parsed is None or parsed.focus_m is None):
        parts.append(f"focus at {spec.focus_m:g} m")
    return ", ".join(parts)


def with_camera_words(prompt: str, spec: CameraSpec) -> str:
    """`prompt` with the camera phrases it does not already contain appended."""
    words = camera_words(spec, said=prompt)
    if not words:
        return prompt
    return f"{prompt.rstrip().rstrip('.')}, {words}" if prompt.strip() else words


def is_static(spec: CameraSpec | None) -> bool:
    return spec is None or (all(m.kind == "static" for m in spec.moves) and not spec.keyframes)


@dataclass
class CacheGuide:
    """The 3D cache rendered along the camera path from one keyframe.

    Args:
        frames: uint8 (T, H, W, 3); frame 0 is the keyframe seen from the start pose.
        seen: bool (T, H, W), True where the cache has a point.
        depth: float (H, W) metres of the keyframe.
        depth_source: which depth model measured it.
    """

    frames: Tensor
    seen: Tensor
    depth: Tensor
    depth_source: str

    def holes_grey(self) -> Tensor:
        """The render with unseen pixels set to mid grey, as VACE's masked regions are."""
        grey = torch.full_like(self.frames, 127)
        return torch.where(self.seen[..., None], self.frames, grey)  # (T, H, W, 3)

    def holes_from(self, still: Tensor) -> Tensor:
        """The render with unseen pixels taken from `still` (H, W, 3) at the same place."""
        return torch.where(self.seen[..., None], self.frames, still[None])  # (T, H, W, 3)


def cache_guide(
    spec: CameraSpec,
    keyframe: Tensor,
    *,
    num_frames: int,
    fps: float,
    depth: DepthFn,
    depth_source: str,
) -> CacheGuide:
    """Depth of `keyframe` (uint8 (H, W, 3)), then the 3D cache rendered from it along `spec`
    at the keyframe's size, `num_frames` frames at `fps` (the keyframe is the first pose)."""
    h, w = keyframe.shape[:2]
    first = camera_pose_at(spec, torch.zeros(1), num_frames / fps, BasePose())
    metres = depth(keyframe, float(first.focal_mm[0])).float()  # (H, W)
    if metres.shape != (h, w):
        raise ValueError(f"depth model returned {tuple(metres.shape)} for a {h}x{w} keyframe")
    frames, seen = [], []
    for start in range(0, num_frames, RENDER_CHUNK):
        chunk = list(range(start, min(start + RENDER_CHUNK, num_frames)))
        shot = render_along(
            spec, keyframe, metres, num_frames=num_frames, fps=fps, size=(h, w), frames=chunk
        )
        frames.append(shot.render.frames_u8())  # (C, H, W, 3)
        seen.append(shot.render.mask)  # (C, H, W)
    return CacheGuide(
        frames=torch.cat(frames), seen=torch.cat(seen), depth=metres, depth_source=depth_source
    )

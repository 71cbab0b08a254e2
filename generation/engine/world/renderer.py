"""Ray-cast renderer with real optics: pinhole projection, thin-lens depth of field from the
depth buffer, and shutter-angle motion blur from sub-frame renders.

Everything is tensor ops over pixels (and sample times); no per-pixel Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from generation.engine.camera import (
    CameraPoses,
    CameraSpec,
    camera_pose_at,
    circle_of_confusion_px,
    focal_length_px,
)
from generation.engine.optics import apply_depth_of_field
from generation.engine.world.geometry import any_hit, nearest_hit, surface
from generation.engine.world.lighting import sky_colour
from generation.engine.world.primitives import PrimitiveSet, stack_primitives
from generation.engine.world.scene import Scene, scene_primitives
from generation.engine.world.textures import ground_colour

_FOG_M = 120.0


@dataclass(frozen=True)
class RenderConfig:
    """Quality knobs. Depth of field and motion blur follow the camera spec when enabled.

    Args:
        motion_blur_samples: sub-frame renders averaged over the open shutter (1 = none).
        shadow_samples: rays per pixel and sub-frame towards the light's disk (soft shadows:
            with motion blur a frame averages shadow_samples x motion_blur_samples directions).
        supersample: render at k x the resolution and average down (anti-aliasing).
        chunk_elements: bound on frames x pixels x primitives per batch (memory).
    """

    depth_of_field: bool = True
    motion_blur_samples: int = 3
    shadow_samples: int = 1
    supersample: int = 1
    chunk_elements: int = 3_000_000


@dataclass(frozen=True)
class RenderedClip:
    """video: (T, H, W, 3) uint8; depth: (T, H, W) z-depth in metres (inf for sky);
    poses: per-frame camera poses at each frame's shutter opening."""

    video: torch.Tensor
    depth: torch.Tensor
    poses: CameraPoses


def _rays(poses: CameraPoses, height: int, width: int, dtype: torch.dtype, device: torch.device):
    """World rays (S, H*W, 3) origins and unit directions, plus the camera forward (S, 3)."""
    ys = torch.arange(height, device=device, dtype=dtype) + 0.5 - height / 2
    xs = torch.arange(width, device=device, dtype=dtype) + 0.5 - width / 2
    f_px = focal_length_px(poses.focal_mm.to(device, dtype), width, height)  # (S,)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    cam = torch.stack(
        [
            gx.reshape(-1)[None] / f_px[:, None],
            gy.reshape(-1)[None] / f_px[:, None],
            torch.ones(f_px.shape[0], height * width, device=device, dtype=dtype),
        ],
        -1,
    )
    rot = poses.rotation.to(device, dtype)
    d = torch.einsum("sij,spj->spi", rot, cam)
    d = d / d.norm(dim=-1, keepdim=True)
    o = poses.position.to(device, dtype)[:, None].expand_as(d)
    return o, d, rot[:, :, 2], f_px


def _disk_offsets(n: int, radius_rad: float, phase: float) -> list[tuple[float, float]]:
    """n stratified points on a disk (Vogel spiral), rotated by `phase`."""
    golden = math.pi * (3 - math.sqrt(5))
    return [
        (
            radius_rad * math.sqrt((i + 0.5) / n) * math.cos(i * golden + phase),
            radius_rad * math.sqrt((i + 0.5) / n) * math.sin(i * golden + phase),
        )
        for i in range(n)
    ]


def _ground_hit(o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Ray distance to the ground plane y = 0, hit only from above (inf otherwise)."""
    return torch.where(d[..., 1] < -1e-6, -o[..., 1] / d[..., 1].clamp(max=-1e-6), math.inf)


def _shade(
    scene: Scene,
    o,
    d,
    prims: PrimitiveSet,
    f_px,
    config: RenderConfig,
    first_sample: int,
    sub_frames: int,
):
    """Linear radiance (S, P, 3) and ray distance (S, P) for one chunk of sample times."""
    light = scene.lighting
    dt, dev = o.dtype, o.device
    t_obj, kind, index = nearest_hit(o, d, prims)
    t_gnd = _ground_hit(o, d)
    t = torch.minimum(t_obj, t_gnd)
    hit_ground = t_gnd <= t_obj
    miss = torch.isinf(t)
    t_safe = torch.where(miss, torch.zeros_like(t), t)
    p = o + d * t_safe[..., None]
    normal, albedo = surface(p, kind, index, prims)
    footprint = t_safe / f_px[:, None] / d[..., 1].abs().clamp(min=0.08)
    g_col = ground_colour(scene.ground, p[..., 0], p[..., 2], footprint)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=dt, device=dev)
    normal = torch.where(hit_ground[..., None], up.expand_as(normal), normal)
    albedo = torch.where(hit_ground[..., None], g_col, albedo)
    origin = p + normal * 2e-3

    sun = torch.tensor(light.sun_direction, dtype=dt, device=dev)
    # An orthonormal frame around the sun direction to spread shadow rays over its disk.
    a = torch.tensor(
        [1.0, 0.0, 0.0] if abs(sun[1]) > 0.9 else [0.0, 1.0, 0.0], dtype=dt, device=dev
    )
    e1 = torch.linalg.cross(sun, a)
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(sun, e1)
    vis = torch.zeros_like(t)
    # Shadow rays are stratified over the light's disk across the motion-blur sub-frames too:
    # sub-frame k of a frame uses its own points of one spiral of (samples x sub-frames) points,
    # so a frame averages samples x sub-frames light directions for the price of `samples`.
    n_sh = max(1, config.shadow_samples)
    spiral = _disk_offsets(n_sh * sub_frames, math.radians(light.sun_radius_deg), 0.0)
    sub_index = (torch.arange(first_sample, first_sample + t.shape[0]) % sub_frames).tolist()
    for j in range(n_sh):
        pts = torch.tensor([spiral[k * n_sh + j] for k in sub_index], dtype=dt, device=dev)
        ld = sun + pts[:, 0:1] * e1 + pts[:, 1:2] * e2  # (S, 3)
        ld = ld / ld.norm(dim=-1, keepdim=True)
        blocked = any_hit(origin, ld[:, None].expand_as(d), prims, math.inf)
        vis = vis + (~blocked).to(dt)
    vis = vis / n_sh
    n_dot_l = (normal * sun).sum(-1).clamp(min=0)
    sun_col = torch.tensor(light.sun_colour, dtype=dt, device=dev) * light.sun_intensity
    amb = torch.tensor(light.ambient, dtype=dt, device=dev)
    radiance = sun_col * (n_dot_l * vis)[..., None] + amb * (0.7 + 0.3 * normal[..., 1:2])
    if light.lamp_position is not None and light.lamp_intensity > 0:
        lp = torch.tensor(light.lamp_position, dtype=dt, device=dev)
        to_lamp = lp - p
        dist = to_lamp.norm(dim=-1).clamp(min=0.3)
        ld = to_lamp / dist[..., None]
        lamp_vis = (~any_hit(origin, ld, prims, dist)).to(dt)
        fall = (normal * ld).sum(-1).clamp(min=0) * lamp_vis / (dist * dist)
        radiance = (
            radiance
            + torch.tensor(light.lamp_colour, dtype=dt, device=dev)
            * (light.lamp_intensity * fall)[..., None]
            / 4.0
        )
    colour = albedo * radiance
    fog = 1 - torch.exp(-(t_safe / _FOG_M).clamp(max=30.0))
    horizon = torch.tensor(light.horizon, dtype=dt, device=dev)
    colour = colour * (1 - fog[..., None]) + horizon * fog[..., None]
    sky = sky_colour(light, d, (1.0 / f_px)[:, None].expand_as(t))
    colour = torch.where(miss[..., None], sky, colour)
    return colour, t


def render_clip(
    scene: Scene,
    spec: CameraSpec,
    *,
    num_frames: int,
    fps: float,
    height: int,
    width: int,
    config: RenderConfig = RenderConfig(),  # noqa: B008 - frozen, shared default is safe
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    frames: list[int] | None = None,
    scene_time: float | None = None,
) -> RenderedClip:
    """Render `num_frames` frames of `scene` through the camera `spec`.

    Frame i integrates sub-frame renders over [i/fps, i/fps + shutter/360/fps] (motion blur),
    then applies thin-lens depth of field from that frame's depth buffer.

    Args:
        frames: render only these frame indices (the camera still follows the whole shot).
        scene_time: hold every object where it is at this time (a still world seen by a moving
            camera); None lets the physics and the characters run.
    """
    torch.set_flush_denormal(True)
    device = torch.device(device)
    duration = num_frames / fps
    m = max(1, config.motion_blur_samples)
    exposure = spec.shutter_deg / 360.0 / fps
    offs = [0.0] if m == 1 else [(k + 0.5) / m * exposure for k in range(m)]
    frame_t = np.arange(num_frames) / fps
    if frames is not None:
        frame_t = frame_t[list(frames)]
    times = (frame_t[:, None] + np.array(offs)[None]).reshape(-1)  # (T*m,)
    ss = max(1, config.supersample)
    hh, ww = height * ss, width * ss
    poses = camera_pose_at(spec, torch.as_tensor(times), duration, scene.camera, dtype=dtype)
    object_times = times if scene_time is None else np.full_like(times, scene_time)
    prims = stack_primitives(
        scene_primitives(scene, object_times), len(times), device=device, dtype=dtype
    )
    o, d, forward, f_px = _rays(poses, hh, ww, dtype, device)
    n_prims = max(1, prims.spheres.count + prims.boxes.count + prims.cylinders.count)
    chunk = max(1, config.chunk_elements // (hh * ww * n_prims))
    colours, depths = [], []
    for s in range(0, len(times), chunk):
        e = min(len(times), s + chunk)
        col, dist = _shade(
            scene,
            o[s:e],
            d[s:e],
            prims.frames(s, e),
            f_px[s:e],
            config,
            first_sample=s,
            sub_frames=m,
        )
        z = dist * (d[s:e] * forward[s:e, None]).sum(-1)
        colours.append(col)
        depths.append(z)
    count = len(frame_t)
    colour = torch.cat(colours).view(count, m, hh, ww, 3).mean(1)  # (T, hh, ww, 3)
    depth = torch.cat(depths).view(count, m, hh, ww)[:, m // 2]
    img = colour.permute(0, 3, 1, 2)  # (T, 3, hh, ww)
    if ss > 1:
        img = F.avg_pool2d(img, ss)
        depth = -F.max_pool2d(-depth[:, None], ss)[:, 0]  # nearest surface wins the pixel
    frame_poses = camera_pose_at(
        spec, torch.as_tensor(frame_t), duration, scene.camera, dtype=dtype
    )
    if config.depth_of_field:
        coc = torch.stack(
            [
                circle_of_confusion_px(
                    depth[i],
                    float(frame_poses.focus_m[i]),
                    float(frame_poses.focal_mm[i]),
                    spec.aperture,
                    width,
                    height,
                )
                for i in range(count)
            ]
        )
        img = apply_depth_of_field(img, coc)
    # Gentle filmic curve then sRGB-ish gamma; clamp before pow so no NaN or denormal appears.
    img = img.clamp(min=0)
    img = img / (1 + 0.25 * img)
    img = img.clamp(0, 1) ** (1 / 2.2)
    video = (img * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return RenderedClip(video=video, depth=depth, poses=frame_poses)


def subject_mask(
    scene: Scene,
    spec: CameraSpec,
    *,
    num_frames: int,
    fps: float,
    height: int,
    width: int,
    frame: int = 0,
    supersample: int = 2,
) -> torch.Tensor:
    """How much of each pixel of frame `frame` shows the scene's subject: (H, W) float32 in
    [0, 1] (the fraction of `supersample`² rays per pixel whose first hit is the subject).

    A ray sees the subject when the subject alone is hit no further than the whole scene and the
    ground: so a subject behind a post or below the horizon's ground is masked out, as in the
    render. The frame is taken at its shutter opening, as a sharp keyframe is rendered.
    """
    ss = max(1, supersample)
    times = np.array([frame / fps])
    poses = camera_pose_at(
        spec, torch.as_tensor(times), num_frames / fps, scene.camera, dtype=torch.float32
    )
    o, d, _, _ = _rays(poses, height * ss, width * ss, torch.float32, torch.device("cpu"))

    def first_hit(of: Scene) -> torch.Tensor:
        prims = stack_primitives(
            scene_primitives(of, times), 1, device=o.device, dtype=torch.float32
        )
        return nearest_hit(o, d, prims)[0]

    t_all, t_subject = first_hit(scene), first_hit(scene.subject_only())
    seen = torch.isfinite(t_subject) & (t_subject <= torch.minimum(t_all, _ground_hit(o, d)) + 1e-4)
    mask = seen.float().view(1, 1, height * ss, width * ss)
    return F.avg_pool2d(mask, ss)[0, 0]

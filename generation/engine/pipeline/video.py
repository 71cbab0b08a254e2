"""The built-in model's pipeline: text, images or a clip -> a clip whose camera is exact geometry.

    check inputs -> encode prompt -> keyframe(s) -> depth -> cache render -> refine -> optics

Every mode is this one pipeline; they differ in where the cache's keyframes (anchors) come from
and where they sit on the camera path:

- t2v: the keyframe model paints an RGB-D keyframe at the path's first frame, through a lens
  wide enough to take in what the path looks at beyond that frame (`ShotPath.painted_lens`).
- i2v: the user's image is the first frame, its depth from the depth model.
- keyframes: the start image at the first frame and the end image at the last, two caches.
- extend: the source's last frame, at its place on a path that runs on past it.
- restyle: a keyframe repainted from the source's first frame at `strength`.
- reframe: each source frame lifted and seen again through another aspect's gate.
- loop (any of the first four): the path runs out and back.

Progress contract: ``progress(step, total)`` after each keyframe solver step, each refiner
chunk and the optics; ``is_cancelled()`` is polled at the same points and True raises
`SamplingCancelled`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine import weights as engine_weights
from generation.engine.cache import (
    CacheRender,
    keyframe_base_pose,
    lift,
    lift_keyframe,
    render_points,
)
from generation.engine.camera import ASPECT_RATIOS, BasePose, CameraSpec
from generation.engine.models.depth import PRESETS as DEPTH_PRESETS
from generation.engine.models.depth import DepthConfig, DepthModel, estimate_depth
from generation.engine.models.keyframe import PRESETS as KEYFRAME_PRESETS
from generation.engine.models.keyframe import (
    KeyframeConfig,
    KeyframeModel,
    channel_to_depth,
    channels_to_rgb,
    depth_to_channel,
    rgb_to_channels,
)
from generation.engine.models.refiner import PRESETS as REFINER_PRESETS
from generation.engine.models.refiner import Refiner, RefinerConfig
from generation.engine.modes import Mode, Quality
from generation.engine.native import keyframe_size, nearest_aspect, render_size
from generation.engine.pipeline.keyframe import paint_keyframes
from generation.engine.pipeline.optics import depth_of_field, fill_depth, motion_blur
from generation.engine.pipeline.path import ShotPath
from generation.engine.pipeline.refine import keep_covered, refine_frames
from generation.engine.pipeline.request import (
    QUALITY_BUDGETS,
    GenerationRequest,
    GenerationResult,
)
from generation.engine.sampling import SamplingCancelled
from generation.engine.schedules import noise_to, shifted_timesteps
from generation.engine.text import TextBatch

REFINE_CHUNK = 8
MAX_FRAMES = 24 * 30


class TextEncoderLike(Protocol):
    def encode(self, prompts: Sequence[str]) -> TextBatch: ...


@dataclass(frozen=True)
class Anchor:
    """A keyframe in the cache: colours (h, w, 3) uint8, depth (h, w) metres, and the path
    frame it is seen from. `real` marks a given image (kept as given where the cache covers);
    `focal_mm` is the lens it was seen through when wider than the path's at its frame."""

    rgb: Tensor
    depth: Tensor
    frame: int
    real: bool
    focal_mm: float | None = None


def _uint8_image(value: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    if t.dtype != torch.uint8 or t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"{name} must be a uint8 (H, W, 3) image, got {t.dtype} {tuple(t.shape)}")
    return t.cpu()


def _uint8_video(value: Tensor | np.ndarray) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3 or t.shape[0] < 1:
        raise ValueError(f"video must be uint8 (T, H, W, 3), got {t.dtype} {tuple(t.shape)}")
    return t.cpu()


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """uint8 (H, W, 3) -> uint8 (h, w, 3), area-averaged when shrinking."""
    if tuple(image.shape[:2]) == tuple(size):
        return image
    x = image.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


class VideoPipeline:
    """The built-in model with its four stages' networks built.

    Args:
        keyframe, depth, refiner: the networks (eval mode is set here).
        text_encoder: anything with ``encode(list[str]) -> TextBatch``.
        device: where the networks run; autocast: bf16 autocast (fast on CPUs with bf16 units).
        info: facts about the weights for the recipe (steps trained, hashes).
    """

    def __init__(
        self,
        keyframe: KeyframeModel,
        depth: DepthModel,
        refiner: Refiner,
        text_encoder: TextEncoderLike,
        *,
        device: torch.device | str = "cpu",
        autocast: bool = True,
        info: dict | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.keyframe = keyframe.to(self.device).eval()
        self.depth = depth.to(self.device).eval()
        self.refiner = refiner.to(self.device).eval()
        self.text_encoder = text_encoder
        self.autocast = autocast
        self.info = info or {}

    # -- stages --------------------------------------------------------------------------

    def check_inputs(self, req: GenerationRequest) -> GenerationRequest:
        mode = Mode(req.mode)
        if req.aspect not in ASPECT_RATIOS:
            raise ValueError(
                f"aspect must be one of {', '.join(ASPECT_RATIOS)}, got {req.aspect!r}"
            )
        if not 1 <= req.num_frames <= MAX_FRAMES:
            raise ValueError(f"num_frames must be 1–{MAX_FRAMES}, got {req.num_frames}")
        if not 1 <= req.fps <= 60:
            raise ValueError(f"fps must be 1–60, got {req.fps}")
        if mode in (Mode.IMAGE, Mode.KEYFRAMES) and req.image is None:
            raise ValueError(f"{mode.label} needs an image (the first frame)")
        if mode is Mode.KEYFRAMES and req.end_image is None:
            raise ValueError("Start + end keyframes needs an end image")
        if mode in (Mode.RESTYLE, Mode.EXTEND, Mode.REFRAME) and req.video is None:
            raise ValueError(f"{mode.label} needs a source video")
        if mode is Mode.RESTYLE and not 0.0 <= req.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {req.strength}")
        if not req.guidance_scale >= 1.0:
            raise ValueError(f"guidance_scale must be >= 1, got {req.guidance_scale}")
        camera = req.camera or CameraSpec(aspect=req.aspect)
        if camera.aspect != req.aspect:
            camera = replace(camera, aspect=req.aspect)
        return replace(req, mode=mode, quality=Quality(req.quality), camera=camera)

    def encode_prompt(self, req: GenerationRequest) -> tuple[TextBatch, TextBatch]:
        text = self.text_encoder.encode([req.prompt])
        null = self.text_encoder.encode([req.negative_prompt or ""])
        return text, null

    def paint_keyframe(
        self,
        req: GenerationRequest,
        text: TextBatch,
        null: TextBatch,
        focal_mm: float,
        on_step: Callable[[], None],
        start: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """An RGB-D keyframe (rgb uint8 (h, w, 3), depth metres (h, w)). With `start` (4, h, w)
        channels, the solve begins from it noised to the request's strength (restyle)."""
        budget = QUALITY_BUDGETS[req.quality]
        size = keyframe_size(req.aspect)
        gen = torch.Generator().manual_seed(req.seed)
        noise = torch.randn(1, 4, *size, generator=gen)
        t_start = 1.0
        if start is not None:
            t_start = max(req.strength, 1e-3)
            noise = noise_to(start[None], noise, t_start)
        x = paint_keyframes(
            self.keyframe,
            text,
            null,
            torch.tensor([focal_mm]),
            size,
            steps=budget.keyframe_steps,
            guidance=req.guidance_scale,
            sampler=budget.sampler,
            noise=noise,
            start=t_start,
            autocast=self.autocast,
            callback=lambda *_: on_step(),
        )[0]
        return channels_to_rgb(x[:3]), channel_to_depth(x[3])

    def image_anchor(self, image: Tensor, req: GenerationRequest, focal_mm: float) -> tuple:
        """A given image at the render size, and its depth from the depth model."""
        rgb = _resize(image, render_size(req.aspect))
        depth = estimate_depth(self.depth, rgb, focal_mm, size=keyframe_size(req.aspect))
        return rgb, depth

    def render_cache(self, path: ShotPath, anchors: list[Anchor], size: tuple[int, int]):
        """Each anchor's cache rendered at every frame; with two anchors (start and end
        keyframes), each frame cross-fades from the first's render to the second's by time,
        either filling where the other has a hole, so both ends come out as given."""
        frames = torch.arange(path.num_frames - path.offset)
        poses = path.at_frames(frames)
        renders = []
        for a in anchors:
            pose = path.at_frames(torch.tensor([a.frame - path.offset]))
            cache = lift_keyframe(a.rgb, a.depth, pose, size, a.focal_mm)
            renders.append(render_points(cache, poses, size))
        if len(renders) == 1:
            return renders[0], poses, frames
        w = (frames.float() / max(1, len(frames) - 1)).view(-1, 1, 1)  # (T, 1, 1)
        first, second = renders
        wa = first.mask * (1 - w) + (first.mask & ~second.mask) * w
        wb = second.mask * w + (second.mask & ~first.mask) * (1 - w)
        total = (wa + wb).clamp(min=1e-6)
        colour = (first.frames * wa[..., None] + second.frames * wb[..., None]) / total[..., None]
        depth = torch.where(
            first.mask & second.mask,
            torch.minimum(first.depth, second.depth),
            torch.where(first.mask, first.depth, second.depth),
        )
        return CacheRender(colour, depth, first.mask | second.mask), poses, frames

    # -- generation ----------------------------------------------------------------------

    @torch.inference_mode()
    def __call__(
        self,
        request: GenerationRequest,
        *,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        req = self.check_inputs(request)
        assert req.camera is not None
        budget = QUALITY_BUDGETS[req.quality]
        size = render_size(req.aspect)
        chunks = math.ceil(req.num_frames / REFINE_CHUNK)
        solver_steps = 0
        if req.mode is Mode.TEXT:
            solver_steps = budget.keyframe_steps
        elif req.mode is Mode.RESTYLE:
            t_start = max(req.strength, 1e-3)
            solver_steps = len(shifted_timesteps(budget.keyframe_steps, 1.0, start=t_start)) - 1
        evals = solver_steps * (2 if budget.sampler == "heun" else 1)
        total = evals + chunks + 1
        done = 0

        def tick() -> None:
            nonlocal done
            if is_cancelled is not None and is_cancelled():
                raise SamplingCancelled
            done += 1
            if progress is not None:
                progress(min(done, total), total)

        if req.mode is Mode.REFRAME:
            return self._reframe(req, tick, total, started)

        stage = time.perf_counter()
        text, null = self.encode_prompt(req)
        timings["encode_prompt_s"] = time.perf_counter() - stage

        # Keyframes (anchors) and the path they sit on.
        stage = time.perf_counter()
        spec = req.camera
        offset = 0
        path_frames = req.num_frames
        if req.mode is Mode.EXTEND:
            source = _uint8_video(_given(req.video, "video"))
            offset = source.shape[0]
            path_frames = offset + req.num_frames
        probe = ShotPath(spec, BasePose(), path_frames, req.fps, req.loop, 0)
        focal0 = float(probe.at_frames(torch.tensor([max(offset - 1, 0)])).focal_mm[0])
        anchors: list[Anchor] = []
        heun_ticks = 2 if budget.sampler == "heun" else 1

        def on_step() -> None:
            for _ in range(heun_ticks):
                tick()

        if req.mode is Mode.TEXT:
            lens = probe.painted_lens()
            rgb, depth = self.paint_keyframe(req, text, null, lens, on_step)
            anchors.append(Anchor(rgb, depth, 0, real=False, focal_mm=lens))
        elif req.mode is Mode.RESTYLE:
            first = _uint8_video(_given(req.video, "video"))[0]
            small = _resize(first, keyframe_size(req.aspect))
            depth = estimate_depth(self.depth, small, focal0)
            start = torch.cat([rgb_to_channels(small), depth_to_channel(depth)[None]])
            rgb, depth = self.paint_keyframe(req, text, null, focal0, on_step, start=start)
            anchors.append(Anchor(rgb, depth, 0, real=False))
        elif req.mode in (Mode.IMAGE, Mode.KEYFRAMES):
            rgb, depth = self.image_anchor(
                _uint8_image(_given(req.image, "image"), "image"), req, focal0
            )
            anchors.append(Anchor(rgb, depth, 0, real=True))
            if req.mode is Mode.KEYFRAMES:
                last = req.num_frames - 1
                focal1 = float(probe.at_frames(torch.tensor([last])).focal_mm[0])
                end = _uint8_image(_given(req.end_image, "end_image"), "end_image")
                rgb1, depth1 = self.image_anchor(end, req, focal1)
                anchors.append(Anchor(rgb1, depth1, last, real=True))
        elif req.mode is Mode.EXTEND:
            rgb, depth = self.image_anchor(source[-1], req, focal0)
            anchors.append(Anchor(rgb, depth, offset - 1, real=True))
        timings["keyframe_s"] = time.perf_counter() - stage

        base = keyframe_base_pose(anchors[0].depth)
        path = ShotPath(spec, base, path_frames, req.fps, req.loop, offset)

        stage = time.perf_counter()
        render, poses, frames_idx = self.render_cache(path, anchors, size)
        timings["cache_s"] = time.perf_counter() - stage

        stage = time.perf_counter()
        refined = refine_frames(
            self.refiner,
            render,
            text.pooled[0],
            chunk=REFINE_CHUNK,
            autocast=self.autocast,
            after_chunk=tick,
        )
        real = any(a.real for a in anchors)
        if real:
            refined = keep_covered(refined, render)
        timings["refine_s"] = time.perf_counter() - stage

        stage = time.perf_counter()
        depth = fill_depth(render.depth)
        frames = refined
        if budget.shutter_samples > 1:
            exposure = path.during_exposure(frames_idx, budget.shutter_samples)
            frames = motion_blur(frames, depth, poses, exposure, budget.shutter_samples)
        if not real:
            frames = depth_of_field(frames, depth, poses, spec.aperture)
        # A given image is the frame it anchors, as given: it carries its own optics.
        for a in anchors:
            if a.real and 0 <= a.frame - offset < frames.shape[0]:
                frames[a.frame - offset] = refined[a.frame - offset]
        tick()
        timings["optics_s"] = time.perf_counter() - stage

        key = anchors[0]
        return GenerationResult(
            frames=(frames * 255 + 0.5).clamp(0, 255).to(torch.uint8).contiguous(),
            fps=req.fps,
            keyframe=key.rgb,
            keyframe_depth=key.depth,
            coverage=render.mask.float().mean(dim=(1, 2)),
            metadata=self._metadata(req, budget, size, frames.shape[0], started, timings),
        )

    def _reframe(self, req, tick, total, started) -> GenerationResult:
        """Each source frame lifted by its own depth through the source's gate and seen through
        the requested aspect's gate from the same pose; the refiner paints the new margins."""
        source = _uint8_video(_given(req.video, "video"))
        src_aspect = nearest_aspect(source.shape[1], source.shape[2])
        size = render_size(req.aspect)
        spec = req.camera
        assert spec is not None
        focal = spec.focal_mm
        text, _ = self.encode_prompt(req)
        src_size = render_size(src_aspect)
        rgbs, masks, depths = [], [], []
        from generation.engine.camera import camera_pose_at

        pose = camera_pose_at(CameraSpec(focal_mm=focal), torch.zeros(1), 1.0, BasePose())
        poses = type(pose)(
            pose.times.expand(source.shape[0]),
            pose.position.expand(source.shape[0], 3),
            pose.rotation.expand(source.shape[0], 3, 3),
            pose.focal_mm.expand(source.shape[0]),
            pose.focus_m.expand(source.shape[0]),
        )
        for i in range(source.shape[0]):
            rgb = _resize(source[i], src_size)
            depth = estimate_depth(self.depth, rgb, focal, size=keyframe_size(src_aspect))
            cache = lift(rgb, depth, pose.position[0], pose.rotation[0], focal)
            one = render_points(cache, pose, size)
            rgbs.append(one.frames[0])
            masks.append(one.mask[0])
            depths.append(one.depth[0])
        render = CacheRender(torch.stack(rgbs), torch.stack(depths), torch.stack(masks))
        refined = refine_frames(
            self.refiner,
            render,
            text.pooled[0],
            chunk=REFINE_CHUNK,
            autocast=self.autocast,
            after_chunk=tick,
        )
        frames = keep_covered(refined, render)
        tick()
        return GenerationResult(
            frames=(frames * 255 + 0.5).clamp(0, 255).to(torch.uint8).contiguous(),
            fps=req.video_fps or req.fps,
            keyframe=_resize(source[0], size),
            keyframe_depth=render.depth[0],
            coverage=render.mask.float().mean(dim=(1, 2)),
            metadata=self._metadata(
                req, QUALITY_BUDGETS[req.quality], size, source.shape[0], started, {}
            )
            | {"source_aspect": src_aspect, "poses": len(poses.times)},
        )

    def _metadata(self, req, budget, size, frames, started, timings) -> dict:
        return {
            "mode": req.mode.value,
            "quality": req.quality.value,
            "seed": req.seed,
            "keyframe_steps": budget.keyframe_steps if req.mode in (Mode.TEXT, Mode.RESTYLE) else 0,
            "sampler": budget.sampler,
            "guidance_scale": req.guidance_scale,
            "shutter_samples": budget.shutter_samples,
            "native_height": size[0],
            "native_width": size[1],
            "native_frames": frames,
            "fps": req.fps,
            "loop": req.loop,
            "strength": req.strength if req.mode is Mode.RESTYLE else None,
            "seconds": round(time.perf_counter() - started, 3),
            "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
            **self.info,
        }


def _given(value: Any, name: str) -> Any:
    if value is None:  # check_inputs refuses these first; this keeps the types honest
        raise ValueError(f"{name} is missing")
    return value


def build_pipeline(
    weights_dir: str | Path | None = None,
    *,
    preset: str = "base",
    device: torch.device | str = "cpu",
    text_encoder: TextEncoderLike | None = None,
    init_seed: int = 0,
    autocast: bool = True,
) -> VideoPipeline:
    """The pipeline from local weights (`keyframe`, `depth`, `refiner` .safetensors + .json in
    `weights_dir`), or with random weights of `preset` when `weights_dir` is None (tests and
    studio development use "tiny").

    Raises:
        WeightsNotInstalled: a weights file is missing (the message names the path).
    """
    info: dict[str, Any]
    if weights_dir is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            keyframe = KeyframeModel(KEYFRAME_PRESETS[preset])
            depth = DepthModel(DEPTH_PRESETS[preset])
            refiner = Refiner(REFINER_PRESETS[preset])
        info = {"weights": None, "preset": preset}
    else:
        kf_cfg, kf_meta = engine_weights.read_config(weights_dir, "keyframe", KeyframeConfig)
        d_cfg, d_meta = engine_weights.read_config(weights_dir, "depth", DepthConfig)
        r_cfg, r_meta = engine_weights.read_config(weights_dir, "refiner", RefinerConfig)
        keyframe = KeyframeModel(kf_cfg)
        depth = DepthModel(d_cfg)
        refiner = Refiner(r_cfg)
        for name, model in (("keyframe", keyframe), ("depth", depth), ("refiner", refiner)):
            engine_weights.load_weights(model, weights_dir, name)
        info = {
            "weights": str(weights_dir),
            "trained": {"keyframe": kf_meta, "depth": d_meta, "refiner": r_meta},
        }
    encoder: TextEncoderLike
    if text_encoder is None:
        from generation.engine.text import load_text_encoder

        encoder = load_text_encoder(str(torch.device(device)))
    else:
        encoder = text_encoder
    return VideoPipeline(
        keyframe, depth, refiner, encoder, device=device, autocast=autocast, info=info
    )

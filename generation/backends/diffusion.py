"""What every diffusers backend shares: planning a job (size, frames, steps, how the camera goes
in, which pipeline runs each stage), loading those pipelines, the character adapter around the
run, and the recipe that comes back. Families (``wan``, ``ltx``) say which pipelines a mode uses
and how each stage is called."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from generation.backends import lora
from generation.backends.base import (
    Backend,
    BackendRequest,
    BackendResult,
    BackendSettings,
    CancelFn,
    ProgressFn,
    TrainingProgressFn,
    UnsupportedRequest,
)
from generation.backends.camera import (
    CacheGuide,
    DepthFn,
    cache_guide,
    is_static,
    with_camera_words,
)
from generation.backends.catalog import BackendSpec
from generation.backends.loading import PipelineCache
from generation.backends.pipelines import VideoPipeline
from generation.backends.stages import StepCounter, fit, fit_video, given, round_frames
from generation.engine.modes import Mode, Quality

QUALITY_STEPS: dict[Quality, int] = {Quality.FLASH: 12, Quality.STANDARD: 30, Quality.PRO: 50}
"""Denoising steps per quality tier (the models' own defaults are 40 to 50 steps)."""


@dataclass
class Stage:
    """One pipeline call of a job: the role (folder) and the pipeline class run over it."""

    name: str
    role: str
    pipeline: type[VideoPipeline]


@dataclass
class Plan:
    """A job worked out before any model runs.

    Args:
        size: (height, width) of the clip.
        num_frames: frames the main stage renders (for extend, context + new, rounded).
        new_frames: frames returned (the request's, before rounding up).
        context: extend: the source's last frames, uint8 (C, H, W, 3), fitted to `size`.
        route: "geometry", "prompt" or "none": how the camera was given.
        route_note: why geometry was not used when it was asked for or possible.
        notes: facts the stages add to the recipe (the depth model used, the share of pixels
            the cache saw).
    """

    size: tuple[int, int]
    num_frames: int
    new_frames: int
    steps: int
    guidance: float
    negative: str | None
    prompt: str
    route: str
    route_note: str | None
    stages: list[Stage] = field(default_factory=list)
    context: Tensor | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class DiffusersBackend(Backend):
    """A backend over diffusers pipelines loaded from local folders.

    Args:
        spec: the catalog entry (folders, capabilities).
        settings: device, dtype, offload, tiling, models folder.
        depth: the depth model as ``(function, name)``; default: Depth Anything from the models
            folder when installed, else the built-in depth network (loaded on first use).
    """

    family: ClassVar[str]
    default_guidance: ClassVar[float]
    default_negative: ClassVar[str]
    default_camera_strength: ClassVar[float] = 1.0
    component_dtypes: ClassVar[dict[str, torch.dtype]] = {}

    def __init__(
        self,
        spec: BackendSpec,
        settings: BackendSettings,
        *,
        depth: tuple[DepthFn, str] | None = None,
    ) -> None:
        if spec.family != self.family:
            raise ValueError(f"{type(self).__name__} drives {self.family}, not {spec.family}")
        self.spec = spec
        self.name = spec.name
        self.capabilities = spec.capabilities
        self.settings = settings
        self.pipelines = PipelineCache(settings, self.component_dtypes)
        self._depth = depth

    # -- what families provide ------------------------------------------------------------

    @abstractmethod
    def stages(self, request: BackendRequest, route: str) -> list[Stage]:
        """The pipeline calls a request takes, in order."""

    @abstractmethod
    def run(
        self,
        request: BackendRequest,
        plan: Plan,
        pipes: dict[str, VideoPipeline],
        steps: StepCounter,
    ) -> Tensor:
        """Run the stages; returns the clip as uint8 (T, H, W, 3) (extend: the new frames)."""

    @abstractmethod
    def training_pipe(self) -> VideoPipeline:
        """The pipeline whose transformer character adapters are trained on."""

    # -- the job ------------------------------------------------------------------------------

    def generate(
        self,
        request: BackendRequest,
        *,
        progress: ProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> BackendResult:
        started = time.perf_counter()
        self.check(request)
        plan = self.plan(request)
        load_started = time.perf_counter()
        pipes = {s.name: self.pipe(s.role, s.pipeline) for s in plan.stages}
        load_s = time.perf_counter() - load_started
        planned = [plan.steps] * len(plan.stages)
        steps = StepCounter(planned, progress, is_cancelled)
        with lora.applied(list(pipes.values()), request.adapters):
            frames = self.run(request, plan, pipes, steps)
        frames = frames[: plan.new_frames]
        metadata = self.recipe(request, plan, steps, frames)
        metadata["seconds"] = {
            "load": round(load_s, 3),
            "stages": dict(zip([s.name for s in plan.stages], steps.seconds, strict=False)),
            "total": round(time.perf_counter() - started, 3),
        }
        return BackendResult(frames=frames, fps=self.capabilities.fps, metadata=metadata)

    def train_character(
        self,
        images: Sequence[Tensor] | Tensor,
        prompt: str,
        out_dir: str | Path,
        *,
        progress: TrainingProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
        **options: Any,
    ) -> Path:
        """Train a character adapter on reference frames (see :func:`lora.train`); jobs then
        pass its folder in ``adapters``."""
        return lora.train(
            self.training_pipe(),
            images,
            prompt,
            out_dir,
            progress=progress,
            is_cancelled=is_cancelled,
            metadata={"backend": self.name},
            **options,
        )

    def pipe(self, role: str, pipeline: type[VideoPipeline]) -> VideoPipeline:
        return self.pipelines.get(self.spec.folders[role], pipeline)

    def plan(self, request: BackendRequest) -> Plan:
        caps = self.capabilities
        if request.height is not None and request.width is not None:
            m = caps.size_multiple
            size = (max(m, round(request.height / m) * m), max(m, round(request.width / m) * m))
        else:
            size = caps.size_for(request.aspect)
        wanted = request.num_frames or caps.max_frames
        context = None
        if request.mode is Mode.EXTEND:
            source = fit_video(given(request.video, "video"), size, "video")
            c = request.context_frames or 1 + 2 * caps.frame_multiple
            c = 1 + caps.frame_multiple * ((min(c, source.shape[0]) - 1) // caps.frame_multiple)
            context = source[-c:]  # (C, H, W, 3)
            num_frames = round_frames(c + wanted, caps.frame_multiple)
        elif request.mode is Mode.RESTYLE:
            n = min(given(request.video, "video").shape[0], wanted)
            num_frames = 1 + caps.frame_multiple * ((n - 1) // caps.frame_multiple)
            wanted = num_frames
        else:
            num_frames = round_frames(wanted, caps.frame_multiple)
        route, note = self.camera_route(request)
        prompt = request.prompt
        if route != "none" and request.camera is not None:
            prompt = with_camera_words(request.prompt, request.camera)
        steps = request.steps or QUALITY_STEPS[request.quality]
        return Plan(
            size=size,
            num_frames=num_frames,
            new_frames=wanted,
            steps=steps,
            guidance=(
                request.guidance_scale
                if request.guidance_scale is not None
                else self.default_guidance
            ),
            negative=(
                request.negative_prompt
                if request.negative_prompt is not None
                else self.default_negative
            ),
            prompt=prompt,
            route=route,
            route_note=note,
            stages=self.stages(request, route),
            context=context,
        )

    def camera_route(self, request: BackendRequest) -> tuple[str, str | None]:
        """("geometry" | "prompt" | "none", why geometry was not taken)."""
        if request.camera is None:
            return "none", None
        if request.mode is Mode.RESTYLE:
            return "none", "a restyle keeps its source clip's camera"
        if is_static(request.camera):
            # A still cache would freeze the whole frame: a locked-off shot goes in words.
            return "prompt", "a static camera is described in the prompt"
        if request.camera_route == "prompt":
            return "prompt", None
        if self.capabilities.camera_geometry:
            return "geometry", None
        why = self.capabilities.why_not("camera_geometry")
        if request.camera_route == "geometry":
            raise UnsupportedRequest(f"{self.name}: camera by geometry unavailable: {why}")
        return "prompt", why

    def depth(self) -> tuple[DepthFn, str]:
        """The depth model camera by geometry measures keyframes with, loaded on first use."""
        if self._depth is None:
            from generation.backends.depth import depth_model

            self._depth = depth_model(self.settings)
        return self._depth

    def guide(self, request: BackendRequest, keyframe: Tensor, num_frames: int) -> CacheGuide:
        """The cache rendered from `keyframe` along the request's camera, `num_frames` long."""
        if request.camera is None:
            raise ValueError("camera by geometry needs the request's camera")
        depth, source = self.depth()
        return cache_guide(
            request.camera,
            keyframe,
            num_frames=num_frames,
            fps=self.capabilities.fps,
            depth=depth,
            depth_source=source,
        )

    def fitted(self, request: BackendRequest, plan: Plan, name: str) -> Tensor:
        return fit(given(getattr(request, name), name), plan.size, name)

    def camera_strength(self, request: BackendRequest) -> float:
        if request.camera_strength is None:
            return self.default_camera_strength
        return request.camera_strength

    def generator(self, request: BackendRequest) -> torch.Generator:
        # A CPU generator: the same seed gives the same noise on every device.
        return torch.Generator(device="cpu").manual_seed(request.seed)

    def recipe(
        self, request: BackendRequest, plan: Plan, steps: StepCounter, frames: Tensor
    ) -> dict[str, Any]:
        folders = {s.role: self.spec.folders[s.role].repo_id for s in plan.stages}
        return {
            "backend": self.name,
            "family": self.family,
            "models": folders,
            "pipelines": {s.name: s.pipeline.__name__ for s in plan.stages},
            "mode": request.mode.value,
            "quality": request.quality.value,
            "seed": request.seed,
            "steps": plan.steps,
            "denoising_steps": steps.done,
            "guidance_scale": plan.guidance,
            "negative_prompt": plan.negative,
            "prompt": request.prompt,
            "prompt_sent": plan.prompt,
            "camera_route": plan.route,
            "camera_note": plan.route_note,
            "camera_strength": self.camera_strength(request) if plan.route == "geometry" else None,
            "height": plan.size[0],
            "width": plan.size[1],
            "frames": int(frames.shape[0]),
            "rendered_frames": plan.num_frames,
            "context_frames": 0 if plan.context is None else int(plan.context.shape[0]),
            "fps": self.capabilities.fps,
            "strength": request.strength if request.mode is Mode.RESTYLE else None,
            "loras": lora.describe(request.adapters),
            "device": self.settings.device,
            "dtype": self.settings.dtype,
            **plan.notes,
        }

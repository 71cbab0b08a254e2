"""The built-in 3D-cache model (``generation.engine.pipeline.video``) behind the backend contract.

It renders every mode, loops, and takes the camera as exact geometry: the camera spec moves
the cache the clip is rendered from, so there is no prompt route. Clips come at the model's
native size per aspect (the studio upscales for delivery) and at the worker's native frame
rate; its steps follow the quality tier.

Character lock: a LoRA on the keyframe model's attention projections
(``generation.engine.lora``), trained by :meth:`BuiltinBackend.train_character` and loaded into
the keyframe model for a job, removed after it; a shot's two characters apply together, each
at its own weight. The keyframe model paints the clip's keyframe in
text to video and restyle; the other modes start from given frames, which the adapter leaves
as they are.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from generation.backends.base import (
    ADAPTER_META,
    Adapter,
    Backend,
    BackendRequest,
    BackendResult,
    BackendSettings,
    CancelFn,
    ProgressFn,
    TrainingProgressFn,
    UnsupportedRequest,
    adapter_meta,
)
from generation.backends.catalog import BUILTIN, builtin_capabilities
from generation.backends.stages import as_uint8
from generation.engine.lora import load_loras, remove_lora
from generation.engine.modes import Mode
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import VideoPipeline, build_pipeline

WEIGHTS_FILE = "keyframe_lora.safetensors"
"""The adapter's weights in a character folder (``generation.engine.lora`` format)."""
DEFAULT_GUIDANCE = 3.0
PAINTED = (Mode.TEXT, Mode.RESTYLE)
"""Modes whose keyframe the keyframe model paints, where a character adapter acts."""


@contextlib.contextmanager
def keyframe_adapters(pipe: VideoPipeline, adapters: Sequence[Adapter]) -> Iterator[None]:
    """The character adapters on the keyframe model for the block, each at its weight;
    removed after it (also when the block raises), leaving the model's weights as they were."""
    if not adapters:
        yield
        return
    for adapter in adapters:
        if not (adapter.path / WEIGHTS_FILE).is_file():
            raise UnsupportedRequest(f"character adapter {adapter.path} has no {WEIGHTS_FILE}")
    try:
        load_loras(pipe.keyframe, [(a.path / WEIGHTS_FILE, a.scale) for a in adapters])
        yield
    finally:
        remove_lora(pipe.keyframe)


class BuiltinBackend(Backend):
    """The built-in model.

    Args:
        settings: its weights folder (or preset for random weights), device, autocast and
            native frame rate.
        pipeline: an already built pipeline (tests, benchmarks); default: built from
            `settings` on first use.
    """

    name = BUILTIN

    def __init__(self, settings: BackendSettings, *, pipeline: VideoPipeline | None = None) -> None:
        self.settings = settings
        self.capabilities = builtin_capabilities(settings.native_fps)
        self._pipeline = pipeline

    def pipeline(self) -> VideoPipeline:
        """The pipeline, built on first use and kept for the process.

        Raises:
            WeightsNotInstalled: a weights file is missing (the message names the path).
        """
        if self._pipeline is None:
            s = self.settings
            self._pipeline = build_pipeline(
                s.weights_dir, preset=s.preset, device=s.device, autocast=s.autocast
            )
        return self._pipeline

    def load(self) -> None:
        self.pipeline()

    def check(self, request: BackendRequest) -> None:
        super().check(request)
        if request.camera_route == "prompt" and request.camera is not None:
            raise UnsupportedRequest(
                "builtin: the built-in model's camera is the geometry of its 3D cache; it has "
                "no camera words to follow"
            )
        native = self.capabilities.size_for(request.aspect)
        asked = (request.height or native[0], request.width or native[1])
        if asked != native:
            raise UnsupportedRequest(
                f"builtin renders {request.aspect} at its native {native[1]}×{native[0]} "
                "(the studio upscales for delivery)"
            )
        if request.steps is not None:
            raise UnsupportedRequest("builtin: the quality tier sets the built-in model's steps")

    def engine_request(self, request: BackendRequest) -> GenerationRequest:
        """The pipeline's request for `request` (checked)."""
        return GenerationRequest(
            prompt=request.prompt,
            mode=request.mode,
            quality=request.quality,
            seed=request.seed,
            aspect=request.aspect,
            num_frames=request.num_frames or self.capabilities.max_frames,
            fps=self.capabilities.fps,
            camera=request.camera,
            loop=request.loop,
            image=request.image,
            end_image=request.end_image,
            video=request.video,
            video_fps=request.video_fps,
            strength=request.strength,
            guidance_scale=(
                DEFAULT_GUIDANCE if request.guidance_scale is None else request.guidance_scale
            ),
            negative_prompt=request.negative_prompt,
        )

    def generate(
        self,
        request: BackendRequest,
        *,
        progress: ProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> BackendResult:
        started = time.perf_counter()
        self.check(request)
        pipe = self.pipeline()
        load_s = time.perf_counter() - started
        with keyframe_adapters(pipe, request.adapters):
            result = pipe(
                self.engine_request(request), progress=progress, is_cancelled=is_cancelled
            )
        loras = [
            {
                "path": str(adapter.path),
                "scale": adapter.scale,
                "prompt": meta.get("prompt"),
                "rank": meta.get("rank"),
                "applied": request.mode in PAINTED,
            }
            for adapter in request.adapters
            for meta in [adapter_meta(adapter.path)]
        ]
        metadata = {
            **result.metadata,
            "backend": self.name,
            "family": BUILTIN,
            "prompt": request.prompt,
            "prompt_sent": request.prompt,
            "camera_route": "geometry" if request.camera is not None else "none",
            "camera_note": None,
            "loras": loras,
            "device": self.settings.device,
            "coverage_mean": round(float(result.coverage.mean()), 4),
        }
        metadata["seconds"] = {
            "load": round(load_s, 3),
            "stages": metadata.pop("stage_seconds", {}),
            "total": round(time.perf_counter() - started, 3),
        }
        return BackendResult(frames=result.frames, fps=result.fps, metadata=metadata)

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
        """Train a character adapter on reference frames (uint8 (H, W, 3) each) and write its
        folder: ``keyframe_lora.safetensors`` and ``adapter.json``. Jobs pass the folder in
        ``adapters``. Options go to ``train_keyframe_adapter`` (steps, rank, learning_rate, ...).
        """
        from generation.engine.training.character import train_keyframe_adapter

        frames = [as_uint8(img, 3, "reference image") for img in images]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        record = train_keyframe_adapter(
            self.pipeline(),
            frames,
            prompt,
            out / WEIGHTS_FILE,
            progress=progress,
            is_cancelled=is_cancelled,
            metadata={"backend": self.name},
            **options,
        )
        (out / ADAPTER_META).write_text(json.dumps(record, indent=2, sort_keys=True))
        return out

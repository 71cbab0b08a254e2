"""The one gateway from Django to the engine: build it, generate a clip, deliver it at the
size and frame rate asked for, encode it, and measure whether it followed the camera.

Everything the worker hands the engine or gets back is a plain value (:class:`RenderSpec`,
:class:`Clip`, uint8 tensors, dicts), so replacing the model behind it changes this module
only. The engine is built once per worker process, from ``settings.DAILIES_ENGINE``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import torch
from django.conf import settings
from torch import Tensor

from generation.delivery import delivery_size, native_frames_needed
from generation.engine import metrics, video_io
from generation.engine.camera import CameraSpec
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import VideoPipeline, build_pipeline
from generation.engine.sampling import SamplingCancelled
from generation.engine.weights import WeightsNotInstalled
from generation.vocabulary import Mode, Quality

log = logging.getLogger(__name__)

# Raised from inside ``generate`` when ``is_cancelled`` turns true at a step boundary.
Cancelled = SamplingCancelled


@dataclass(frozen=True)
class EngineInfo:
    backend: str
    preset: str
    model_version: str
    trained: bool
    native_fps: float
    limits: tuple[str, ...]


@dataclass(frozen=True)
class Clip:
    """Frames and their rate. ``frames``: uint8 (T, H, W, 3)."""

    frames: Tensor
    fps: float

    @property
    def sha256(self) -> str:
        """A fingerprint of the exact frames: the same recipe reproduces it bit for bit."""
        return hashlib.sha256(self.frames.numpy().tobytes()).hexdigest()


@dataclass(frozen=True)
class RenderSpec:
    """One clip to render, as the worker read it from the job.

    Args:
        prompt, mode, quality, seed, camera: the recipe.
        duration_s: seconds to render (an extension: the new seconds).
        image: image to video's frame, or the start keyframe, uint8 (H, W, 3).
        source: the clip a restyle, an extension or a reframe starts from, as delivered.
        strength: how far a restyle may move from its source, 0.05–1.
        end_image: the end keyframe, uint8 (H, W, 3).
        loop: the camera goes out and back, so the clip loops.
    """

    prompt: str
    mode: Mode
    quality: Quality
    seed: int
    camera: CameraSpec
    duration_s: int
    image: np.ndarray | None = None
    source: Clip | None = None
    strength: float = 0.6
    end_image: np.ndarray | None = None
    loop: bool = False


def _engine_settings() -> dict[str, Any]:
    engine: dict[str, Any] = settings.DAILIES_ENGINE
    return engine


@functools.cache
def pipeline() -> VideoPipeline:
    """The built-in model's pipeline, built on first use and kept for the process."""
    cfg = _engine_settings()
    started = time.perf_counter()
    weights = cfg.get("weights_dir")
    pipe = build_pipeline(
        Path(weights) if weights else None,
        preset=cfg["preset"],
        device=cfg.get("device", "cpu"),
        autocast=cfg.get("autocast", True),
    )
    log.info("engine %s built in %.2fs", cfg["preset"], time.perf_counter() - started)
    return pipe


def _trained(weights_dir: str | None) -> dict[str, Any]:
    """What each stage's weights record of their training (``<stage>.json`` metadata)."""
    out: dict[str, Any] = {}
    if not weights_dir:
        return out
    for stage in ("keyframe", "depth", "refiner"):
        try:
            doc = json.loads((Path(weights_dir) / f"{stage}.json").read_text())
            out[stage] = doc.get("metadata", {})
        except (OSError, ValueError):
            continue
    return out


@functools.cache
def _info(preset: str, weights_dir: str | None, model_version: str, fps: float) -> EngineInfo:
    trained = _trained(weights_dir)
    limits = [
        "No audio: add sound in your editor.",
        "On-screen text is not rendered legibly.",
        "The scene holds still: the camera moves through it, its objects do not move yet.",
        "Clips are rendered at the model's native size (about 170 pixels wide) and upscaled "
        "for delivery.",
    ]
    if not trained:
        limits.insert(0, "No trained weights are installed: keyframes are untrained noise.")
    steps = trained.get("keyframe", {}).get("step")
    version = model_version or f"builtin-{preset}" + (f"-{steps}" if steps else "")
    return EngineInfo(
        backend="builtin",
        preset=preset,
        model_version=version,
        trained=bool(trained),
        native_fps=fps,
        limits=tuple(limits),
    )


def engine_info() -> EngineInfo:
    """What the active model is and cannot do, shown in the UI before anyone submits."""
    cfg = _engine_settings()
    weights = cfg.get("weights_dir")
    return _info(
        cfg["preset"],
        str(weights) if weights else None,
        cfg.get("model_version") or "",
        float(cfg.get("native_fps", 24.0)),
    )


def user_message(exc: BaseException) -> str | None:
    """A sentence for the user about an engine failure this module recognises, else None."""
    if isinstance(exc, WeightsNotInstalled):
        return "The model's weights are not installed on the render worker."
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return "The render worker ran out of memory for this request; try a lower resolution."
    return None


# --- generate --------------------------------------------------------------------------------


def read_clip(path: str | Path) -> Clip:
    """A delivered MP4's frames, uint8 (T, H, W, 3), and its frame rate."""
    frames, fps = video_io.decode_video(path)
    return Clip(torch.from_numpy(frames), fps)


def _request(spec: RenderSpec, native_fps: float) -> GenerationRequest:
    native_frames = native_frames_needed(spec.duration_s, native_fps)
    inputs: dict[str, Any] = _keyframe_inputs(spec)
    if spec.source is not None:
        video = video_io.resample_fps(spec.source.frames, spec.source.fps, native_fps)
        if spec.mode in (Mode.RESTYLE, Mode.REFRAME):
            # A delivered clip's last frame sits one frame before its end; hold it so the
            # clip covers the whole duration, as a text-to-video render does.
            short = native_frames - video.shape[0]
            if short > 0:
                video = torch.cat([video, video[-1:].expand(short, -1, -1, -1)])
            video = video[:native_frames]
        if spec.mode == Mode.RESTYLE:
            inputs["strength"] = spec.strength
        inputs["video"] = video  # (T', H, W, 3) at native timing
    return GenerationRequest(
        prompt=spec.prompt,
        mode=spec.mode,
        quality=spec.quality,
        seed=spec.seed,
        aspect=spec.camera.aspect,
        num_frames=native_frames,
        fps=native_fps,
        camera=spec.camera,
        **inputs,
    )


# Start and end keyframes and looping: what the request passes besides the clip.
def _keyframe_inputs(spec: RenderSpec) -> dict[str, Any]:
    inputs: dict[str, Any] = {"loop": spec.loop}
    if spec.mode in (Mode.IMAGE, Mode.KEYFRAMES):
        inputs["image"] = spec.image
    if spec.mode == Mode.KEYFRAMES:
        inputs["end_image"] = spec.end_image
    return inputs


def video_frame(source: BinaryIO | str | Path, which: Literal["first", "last"]) -> np.ndarray:
    """The first or last frame of a delivered clip, uint8 (H, W, 3): a start frame taken
    from the end of one render, or an end frame from the start of another."""
    return video_io.read_frame(source, which)


def generate(
    spec: RenderSpec,
    *,
    progress: Callable[[int, int], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Clip:
    """Render ``spec`` at the model's native size and frame rate.

    ``progress(step, total)`` is called after every sampling step; raises
    :data:`Cancelled` at the first step boundary where ``is_cancelled()`` holds.
    """
    pipe = pipeline()
    result = pipe(
        _request(spec, engine_info().native_fps), progress=progress, is_cancelled=is_cancelled
    )
    return Clip(result.frames, result.fps)


# --- deliver ---------------------------------------------------------------------------------


def _resample(
    frames: Tensor, src_fps: float, fps: int, wanted: int, size: tuple[int, int], *, whole: bool
) -> Tensor:
    """Re-time to ``fps`` at the small size (cheap), keep ``wanted`` frames, then upscale.
    ``whole``: the clip must cover all ``wanted`` frames (a continuation may end early)."""
    timed = video_io.resample_fps(frames, src_fps, fps)  # (T2, h, w, 3)
    if whole and timed.shape[0] < wanted:
        raise ValueError(f"native clip covers {timed.shape[0]} frames at {fps} fps, need {wanted}")
    return video_io.upscale(timed[:wanted], size)  # (wanted, H, W, 3)


def deliver(
    clip: Clip,
    *,
    duration_s: int,
    fps: int,
    resolution: int,
    aspect: str,
    upscale_to_4k: bool = False,
    extends: Clip | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """The clip the user asked for: ``duration_s`` at ``fps``, ``resolution`` high.

    An extension (``extends`` is its source as delivered) is the source followed by its
    continuation; the seam's roughness is measured against the source's own frame-to-frame
    change and returned as ``seam_ratio``.

    Returns:
        uint8 (T, H, W, 3) and a report (empty unless extending).
    """
    size = delivery_size(resolution, aspect)
    wanted = round(duration_s * fps)
    report: dict[str, float] = {}
    frames = _resample(clip.frames, clip.fps, fps, wanted, size, whole=extends is None)
    if extends is not None:
        source = video_io.upscale(extends.frames, size)  # (Ts, H, W, 3) at this job's size
        tail = source[-min(len(source), 12) :].float()
        within = (tail[1:] - tail[:-1]).abs().mean().item()
        seam = (frames[0].float() - source[-1].float()).abs().mean().item()
        report["seam_ratio"] = round(seam / max(within, 1e-6), 3)
        frames = torch.cat([source, frames])
    if upscale_to_4k:
        frames = video_io.upscale(frames, delivery_size(2160, aspect))
    return frames, report


def write_media(
    frames: Tensor, workdir: Path, *, fps: int
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Encode the delivered frames: H.264 MP4, a poster frame and a thumbnail strip.

    Returns ``{"video" | "poster" | "strip": (path, metadata)}``.
    """
    t, h, w, _ = frames.shape
    video = video_io.encode_mp4(frames, workdir / "video.mp4", fps=fps)
    poster = video_io.write_poster(frames, workdir / "poster.jpg", index=min(t - 1, t // 3))
    strip = workdir / "strip.jpg"
    video_io.thumbnail_strip(frames, count=8, height=72).save(strip, format="JPEG", quality=85)
    return {
        "video": (video, {"width": w, "height": h, "frames": t, "fps": float(fps)}),
        "poster": (poster, {"width": w, "height": h}),
        "strip": (strip, {}),
    }


# --- measure ---------------------------------------------------------------------------------


def conformance(clip: Clip, camera: CameraSpec) -> dict[str, Any]:
    """Did the clip follow the requested camera? Measured from the native frames alone."""
    return dataclasses.asdict(metrics.camera_conformance(clip.frames, camera, clip.fps))

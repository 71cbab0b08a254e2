"""The one gateway from Django to the models: choose the backend, generate a clip, deliver it
at the size and frame rate asked for, encode it, and measure whether it followed the camera.

Everything the worker hands a backend or gets back is a plain value (:class:`RenderSpec`,
:class:`Clip`, uint8 tensors, dicts), so every backend is driven the same way: the same
progress callback and cancel check, the same delivery, conformance score and settlement. The
backend is the worker's setting (``settings.DAILIES_BACKEND``: the built-in model, configured by
``settings.DAILIES_ENGINE``, or an open-weights model from ``generation.backends.catalog``), built
once per worker process. The web process reads only its capabilities, which load no model.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import torch
from django.conf import settings
from torch import Tensor

from generation.backends.base import (
    Adapter,
    Backend,
    BackendRequest,
    BackendSettings,
    Capabilities,
    ModelsNotInstalled,
    UnsupportedRequest,
)
from generation.backends.catalog import BUILTIN, capabilities_of, title_of
from generation.backends.registry import load_backend
from generation.engine import metrics, video_io
from generation.engine.camera import CameraSpec
from generation.engine.delivery import delivery_size, native_frames_needed, retime_and_size
from generation.engine.sampling import SamplingCancelled
from generation.engine.weights import WeightsNotInstalled
from generation.vocabulary import Mode, Quality

log = logging.getLogger(__name__)

# Raised from inside ``generate`` when ``is_cancelled`` turns true at a step boundary.
Cancelled = SamplingCancelled


@dataclass(frozen=True)
class EngineInfo:
    """The active backend as the studio shows it, read from settings without loading a model.

    Args:
        backend: its name ("builtin", "wan2.1-1.3b", ...); title: its name for people.
        preset: the built-in model's preset ("" for other backends).
        capabilities: what it can render; the composer disables the rest and says why.
        limits: what it cannot do, in sentences.
    """

    backend: str
    title: str
    preset: str
    model_version: str
    trained: bool
    native_fps: float
    limits: tuple[str, ...]
    capabilities: Capabilities

    @property
    def max_duration_s(self) -> int:
        return max_duration_s(self.capabilities)


def max_duration_s(caps: Capabilities) -> int:
    """The longest clip one render makes, in whole seconds: ``n`` seconds need ``n * fps + 1``
    frames at the native frame rate."""
    return int((caps.max_frames - 1) // caps.fps)


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
        adapters: the character adapters (folders made by :func:`train_character` for this
            backend, each with its weight) the render applies together; empty: none.
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
    adapters: tuple[Adapter, ...] = ()
    end_image: np.ndarray | None = None
    loop: bool = False


def _engine_settings() -> dict[str, Any]:
    engine: dict[str, Any] = settings.DAILIES_ENGINE
    return engine


def _backend_name() -> str:
    name: str = settings.DAILIES_BACKEND["backend"]
    return name


def backend_settings() -> BackendSettings:
    """The worker's backend settings: the backend's own (``DAILIES_BACKEND``) and the
    built-in model's (``DAILIES_ENGINE``), which also gives other backends their fallback
    depth network."""
    cfg, engine = settings.DAILIES_BACKEND, _engine_settings()
    weights = engine.get("weights_dir")
    return BackendSettings(
        backend=cfg["backend"],
        models_dir=Path(cfg["models_dir"]),
        device=engine.get("device", "cpu"),
        dtype=cfg.get("dtype", "bfloat16"),
        cpu_offload=bool(cfg.get("cpu_offload", False)),
        vae_tiling=bool(cfg.get("vae_tiling", False)),
        depth_model=cfg.get("depth_model") or None,
        resident_pipelines=int(cfg.get("resident_pipelines", 2)),
        weights_dir=Path(weights) if weights else None,
        preset=engine["preset"],
        autocast=bool(engine.get("autocast", True)),
        native_fps=float(engine.get("native_fps", 24.0)),
        model_version=engine.get("model_version") or "",
    )


def backend() -> Backend:
    """The worker's backend, built on first use and kept for the process (its models load
    on first use: see :func:`load`)."""
    return load_backend(backend_settings())


def load() -> Backend:
    """The backend with what it can load ahead of the first job loaded (the built-in
    model's networks; an open-weights backend loads each model folder when a job needs it)."""
    active = backend()
    started = time.perf_counter()
    active.load()
    log.info("backend %s ready in %.2fs", active.name, time.perf_counter() - started)
    return active


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


NO_AUDIO = "No audio: add sound in your editor."


@functools.cache
def _builtin_info(
    preset: str, weights_dir: str | None, model_version: str, fps: float
) -> EngineInfo:
    trained = _trained(weights_dir)
    limits = [
        NO_AUDIO,
        "On-screen text is not rendered legibly.",
        "The scene holds still: the camera moves through it, its objects do not move yet.",
        "Clips are rendered at the model's native size (about 170 pixels wide) and upscaled "
        "for delivery.",
    ]
    if not trained:
        limits.insert(0, "No trained weights are installed: keyframes are untrained noise.")
    else:
        limits.insert(
            0,
            "The model is early in its training: it paints the prompt's sky, ground and "
            "colours; objects come out blotchy (docs/model/MODEL_CARD.md).",
        )
    steps = trained.get("keyframe", {}).get("step")
    version = model_version or f"builtin-{preset}" + (f"-{steps}" if steps else "")
    return EngineInfo(
        backend=BUILTIN,
        title=title_of(BUILTIN),
        preset=preset,
        model_version=version,
        trained=bool(trained),
        native_fps=fps,
        limits=tuple(limits),
        capabilities=capabilities_of(BUILTIN, builtin_fps=fps),
    )


@functools.cache
def _open_weights_info(name: str, model_version: str) -> EngineInfo:
    caps = capabilities_of(name)
    h, w = caps.max_size
    limits = [
        NO_AUDIO,
        f"One render makes at most {max_duration_s(caps)} s; longer shots are made by extending.",
        f"Clips are rendered at up to {w}×{h} and upscaled for delivery.",
    ]
    if not caps.camera_geometry:
        limits.append(caps.why_not("camera_geometry") or "")
    return EngineInfo(
        backend=name,
        title=title_of(name),
        preset="",
        model_version=model_version or name,
        trained=True,
        native_fps=caps.fps,
        limits=tuple(limits),
        capabilities=caps,
    )


def engine_info() -> EngineInfo:
    """What the active backend is and cannot do, shown in the UI before anyone submits."""
    name = _backend_name()
    cfg = _engine_settings()
    if name != BUILTIN:
        return _open_weights_info(name, cfg.get("model_version") or "")
    weights = cfg.get("weights_dir")
    return _builtin_info(
        cfg["preset"],
        str(weights) if weights else None,
        cfg.get("model_version") or "",
        float(cfg.get("native_fps", 24.0)),
    )


def user_message(exc: BaseException) -> str | None:
    """A sentence for the user about a model failure this module recognises, else None."""
    if isinstance(exc, ModelsNotInstalled):
        return (
            "The model's files are not installed on the render worker; an administrator has "
            "the details."
        )
    if isinstance(exc, WeightsNotInstalled):
        return "The model's weights are not installed on the render worker."
    if isinstance(exc, UnsupportedRequest):
        return f"The render worker's model cannot render this request: {exc}"
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return "The render worker ran out of memory for this request; try a lower resolution."
    return None


def admin_detail(exc: BaseException) -> str | None:
    """What an administrator needs first about a failure this module recognises: for missing
    model files, the folder, what is missing and the command that downloads it."""
    if isinstance(exc, WeightsNotInstalled):
        return f"{type(exc).__name__}: {exc}"
    return None


# --- generate --------------------------------------------------------------------------------


def read_clip(path: str | Path) -> Clip:
    """A delivered MP4's frames, uint8 (T, H, W, 3), and its frame rate."""
    frames, fps = video_io.decode_video(path)
    return Clip(torch.from_numpy(frames), fps)


@dataclass(frozen=True)
class Generated:
    """A clip at the backend's native size and frame rate, and the backend's account of it
    (backend, models, steps, camera route, prompt as sent, adapter, seconds per stage)."""

    clip: Clip
    metadata: dict[str, Any]


def backend_request(spec: RenderSpec, caps: Capabilities) -> BackendRequest:
    """The backend's request for ``spec``: frames to cover the duration at the backend's
    frame rate, inputs re-timed to it."""
    native_fps = caps.fps
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
        inputs["video_fps"] = native_fps
    if spec.adapters:
        inputs["adapters"] = spec.adapters
    return BackendRequest(
        prompt=spec.prompt,
        mode=spec.mode,
        quality=spec.quality,
        seed=spec.seed,
        aspect=spec.camera.aspect,
        num_frames=native_frames,
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


def video_frame_at(source: BinaryIO | str | Path, index: int) -> tuple[np.ndarray, int]:
    """Frame ``index`` of a delivered clip (the last when it is shorter), uint8 (H, W, 3),
    and the index it has: a character is locked from a frame the creator picked."""
    return video_io.read_frame_at(source, index)


def generate(
    spec: RenderSpec,
    *,
    progress: Callable[[int, int], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Generated:
    """Render ``spec`` on the worker's backend at its native size and frame rate.

    ``progress(step, total)`` is called after every denoising step; raises
    :data:`Cancelled` at the first step boundary where ``is_cancelled()`` holds.
    """
    active = backend()
    result = active.generate(
        backend_request(spec, active.capabilities), progress=progress, is_cancelled=is_cancelled
    )
    # JSON-safe (the recipe is stored as JSON): anything unusual becomes its text.
    metadata = json.loads(json.dumps(result.metadata, default=str))
    return Generated(Clip(result.frames, result.fps), metadata)


def train_character(
    images: Sequence[Tensor | np.ndarray],
    prompt: str,
    out_dir: Path,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    **options: Any,
) -> Path:
    """Train a character adapter for the worker's backend on reference frames (uint8
    (H, W, 3) each) and write it to `out_dir`; a job passes that folder as its ``adapter``.
    The GPU queue's training task calls this, with a cancel check as a render's and
    ``progress(step, total, loss)``, ``loss`` the running mean of the last steps' losses.

    Raises:
        UnsupportedRequest: the backend takes no character adapters (the reason says why).
    """
    frames = [
        torch.from_numpy(np.ascontiguousarray(i)) if isinstance(i, np.ndarray) else i
        for i in images
    ]
    return backend().train_character(
        frames, prompt, out_dir, progress=progress, is_cancelled=is_cancelled, **options
    )


# --- character lock ---------------------------------------------------------------------------


@functools.cache
def _identity_encoder() -> Any:
    from generation.engine.identity import load_encoder

    return load_encoder()


def _as_frames(images: Sequence[Tensor | np.ndarray], what: str) -> list[Tensor]:
    out = []
    for image in images:
        t = (
            torch.from_numpy(np.ascontiguousarray(image))
            if isinstance(image, np.ndarray)
            else image
        )
        if t.dtype != torch.uint8 or t.ndim != 3 or t.shape[2] != 3 or min(t.shape[:2]) < 1:
            raise ValueError(f"{what} must be uint8 (H, W, 3), got {t.dtype} {tuple(t.shape)}")
        out.append(t)
    return out


def identity_embedding(images: Sequence[np.ndarray]) -> np.ndarray:
    """Unit identity vectors (N, D) float32 of figure crops (uint8 (H, W, 3) each, any size):
    two crops of one character have a high dot product, two characters a low one. The
    encoder ships in ``weights/identity_encoder.*`` and runs on the CPU in any process.
    """
    from generation.engine.identity import embed

    crops = _as_frames(images, "a figure crop")
    if not crops:
        raise ValueError("identity_embedding needs at least one image")
    return embed(_identity_encoder(), crops).numpy().astype(np.float32)


def character_similarity(frames: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """The drift score: how much the figure in a take looks like a locked character, in
    [0, 1] (1 = the same look).

    ``frames`` are whole frames of the take (a handful sampled from the clip), uint8
    (H, W, 3); ``references`` the character's reference crops, uint8 (H, W, 3). Each frame is
    searched with square windows at five sizes (the frame scaled to 96 pixels high first) and
    the window closest to the references' mean identity stands for the figure; the take's
    score is the median over frames of that best cosine, floored at zero
    (:func:`generation.engine.identity.figure_similarity`).

    Raises:
        ValueError: no frames, no references, or an image that is not uint8 (H, W, 3).
    """
    from generation.engine.identity import figure_similarity

    return figure_similarity(
        _identity_encoder(),
        _as_frames(frames, "a take frame"),
        _as_frames(references, "a reference image"),
    )


# --- deliver ---------------------------------------------------------------------------------


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
    frames = retime_and_size(clip.frames, clip.fps, fps, wanted, size, whole=extends is None)
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


# --- storyboards ------------------------------------------------------------------------------


def storyboard_size(resolution: int, aspect: str) -> tuple[int, int]:
    """(height, width) of a storyboard's film at ``resolution`` and ``aspect``."""
    return delivery_size(resolution, aspect)


def conform(
    source: str | Path, *, start_s: float, duration_s: float, fps: int, size: tuple[int, int]
) -> Tensor:
    """A delivered clip's ``duration_s`` from ``start_s``, at ``fps`` and ``size``: re-timed
    (frames blended), cropped to the frame's aspect about the centre (the picture is filled,
    never letterboxed) and resized. A clip that ends early holds its last frame.

    Returns:
        uint8 (round(duration_s * fps), H, W, 3).
    """
    frames, src_fps = video_io.decode_video(source)  # (T, h, w, 3)
    own = frames[min(len(frames) - 1, round(start_s * src_fps)) :]
    timed = video_io.resample_fps(own, src_fps, fps)  # (T2, h, w, 3)
    wanted = max(1, round(duration_s * fps))
    if timed.shape[0] < wanted:
        timed = torch.cat([timed, timed[-1:].expand(wanted - timed.shape[0], -1, -1, -1)])
    timed = timed[:wanted]
    h, w = timed.shape[1:3]
    ratio = size[1] / size[0]
    if w / h > ratio:  # wider than the frame: crop the sides
        keep = round(h * ratio)
        timed = timed[:, :, (w - keep) // 2 : (w - keep) // 2 + keep]
    elif w / h < ratio:  # taller: crop top and bottom
        keep = round(w / ratio)
        timed = timed[:, (h - keep) // 2 : (h - keep) // 2 + keep]
    return video_io.upscale(timed.contiguous(), size)


def crossfade(tail: Tensor, head: Tensor) -> Tensor:
    """The dissolve from one shot's last frames to the next one's first: uint8 (d, H, W, 3)
    each, mixed linearly so frame i is (i + 1) / (d + 1) of the way to ``head``."""
    d = tail.shape[0]
    w = (torch.arange(1, d + 1, dtype=torch.float32) / (d + 1)).view(-1, 1, 1, 1)  # (d, 1, 1, 1)
    mixed = tail.float() * (1 - w) + head.float() * w
    return mixed.round().clamp(0, 255).to(torch.uint8)


def film_writer(path: str | Path, *, size: tuple[int, int], fps: int) -> video_io.Mp4Writer:
    """An H.264 (+faststart) MP4 written shot by shot."""
    return video_io.Mp4Writer(path, size=size, fps=fps)


def encode(frames: Tensor, path: str | Path, *, fps: int) -> Path:
    return video_io.encode_mp4(frames, path, fps=fps)

"""The contract between the studio and a video model: one request in, uint8 frames out.

A backend is chosen per worker process by settings (which model family, where its folders are,
which device) and then serves every job of that worker. The studio drives every backend the same
way: ``backend.generate(request, progress=..., is_cancelled=...)``; ``progress(step, total)`` is
called after each denoising step of every stage, and the call stops with
:class:`~generation.engine.sampling.SamplingCancelled` as soon as ``is_cancelled()`` is true (or
``progress`` raises it). Throttling progress pushes is the caller's business.

What a backend can do is data (:class:`Capabilities`), readable without importing any model
library, so the web process can grey out what the worker cannot render and say why.

Nothing in this package imports Django: settings come in as a :class:`BackendSettings`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from torch import Tensor

from generation.engine.camera import ASPECT_RATIOS, CameraSpec
from generation.engine.modes import Mode, Quality
from generation.engine.weights import WeightsNotInstalled

ProgressFn = Callable[[int, int], None]
"""``progress(step, total)``: ``step`` in 1..total counts finished denoising steps of the job."""

TrainingProgressFn = Callable[[int, int, float], None]
"""``progress(step, total, loss)`` of a training: ``step`` in 1..total counts finished
optimisation steps; ``loss`` is the mean of the last ten steps' losses, the same running value
the adapter records as ``loss_last`` (one batch's loss jumps too much to read on a page)."""

CancelFn = Callable[[], bool]
"""``is_cancelled()``: polled after every step; True stops the job with SamplingCancelled."""

Image = Tensor | np.ndarray
"""uint8 RGB (H, W, 3), any size: resized to the clip's size."""

Video = Tensor | np.ndarray
"""uint8 RGB (T, H, W, 3), any size: resized to the clip's size."""


ADAPTER_META = "adapter.json"
"""What a character adapter folder records of its training, ``backend`` among it."""


def adapter_meta(lora_dir: str | Path) -> dict[str, Any]:
    """A character adapter folder's record (empty when it has none)."""
    path = Path(lora_dir) / ADAPTER_META
    record: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return record


@dataclass(frozen=True)
class Adapter:
    """A character adapter a request applies: its folder (made by the worker's backend's
    ``train_character``) and its weight (0 leaves it out, 1 as trained)."""

    path: Path
    scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "scale", float(self.scale))


class ModelsNotInstalled(WeightsNotInstalled):
    """A backend's model folder is missing or incomplete; the message names the folder and the
    command that downloads it (run on a machine with network access)."""


class UnsupportedRequest(ValueError):
    """The active backend cannot do what the request asks; the message says why."""


CAMERA_ROUTES = ("auto", "geometry", "prompt")
"""How the camera reaches the model: ``geometry`` renders the 3D cache along the camera spec and
hands it to the model as its control input; ``prompt`` appends camera words to the prompt;
``auto`` takes geometry where the backend has such an input, words otherwise."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can render, as the composer reads it.

    Args:
        modes: the modes it renders.
        max_frames: longest clip in one call (frames at ``fps``).
        max_size: largest (height, width) of a landscape clip; portrait swaps them.
        default_size: (height, width) of a 16:9 clip when the request does not say; other aspects
            keep its area.
        sizes: (height, width) per aspect for a model with a native size for each (overrides
            the area rule).
        frame_multiple: clips have ``1 + frame_multiple * k`` frames (rounded up).
        size_multiple: height and width are multiples of this (rounded).
        fps: the frame rate the model was trained at.
        camera_geometry: the camera can be given as the 3D cache rendered along the camera spec
            (a control video for Wan VACE, conditioning frames for LTX); otherwise camera words
            are appended to the prompt.
        lora: character lock through a LoRA on the transformer.
        negative_prompt: the prompt of the unconditional branch can be set.
        keyframes_anywhere: images can be pinned at any frame, not only the first and last.
        loop: the camera path can run out and back so the clip loops.
        reasons: why each missing feature is missing, keyed by mode value or feature name; the
            composer shows it next to what it disables.
    """

    modes: frozenset[Mode]
    max_frames: int
    max_size: tuple[int, int]
    default_size: tuple[int, int]
    frame_multiple: int
    size_multiple: int
    fps: float
    camera_geometry: bool
    lora: bool
    negative_prompt: bool
    keyframes_anywhere: bool = False
    loop: bool = False
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", frozenset(Mode(m) for m in self.modes))
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))
        object.__setattr__(self, "reasons", MappingProxyType(dict(self.reasons)))

    def supports(self, mode: Mode | str) -> bool:
        return Mode(mode) in self.modes

    def why_not(self, feature: Mode | str) -> str | None:
        """The reason a mode (or a feature: "lora", "camera_geometry", ...) is unavailable."""
        key = feature.value if isinstance(feature, Mode) else str(feature)
        if key in {m.value for m in Mode}:
            if Mode(key) in self.modes:
                return None
        elif getattr(self, key, False):
            return None
        return self.reasons.get(key, "Not available on this model.")

    def size_for(self, aspect: str) -> tuple[int, int]:
        """(height, width) for `aspect`: the model's own size for 16:9 (and turned for 9:16),
        otherwise the default size's area at the aspect's ratio, within `max_size`."""
        if aspect not in ASPECT_RATIOS:
            raise UnsupportedRequest(
                f"aspect must be one of {', '.join(ASPECT_RATIOS)}, got {aspect!r}"
            )
        if aspect in self.sizes:
            return self.sizes[aspect]
        if aspect == "16:9":
            return self.default_size
        if aspect == "9:16":
            return self.default_size[1], self.default_size[0]
        ratio = ASPECT_RATIOS[aspect]
        area = self.default_size[0] * self.default_size[1]
        long_max, short_max = max(self.max_size), min(self.max_size)
        h, w = math.sqrt(area / ratio), math.sqrt(area * ratio)
        h_max, w_max = (short_max, long_max) if ratio >= 1 else (long_max, short_max)
        scale = min(1.0, h_max / h, w_max / w)
        m = self.size_multiple
        return max(m, round(h * scale / m) * m), max(m, round(w * scale / m) * m)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modes": sorted(m.value for m in self.modes),
            "max_frames": self.max_frames,
            "max_seconds": round(self.max_frames / self.fps, 2),
            "max_size": list(self.max_size),
            "default_size": list(self.default_size),
            "frame_multiple": self.frame_multiple,
            "size_multiple": self.size_multiple,
            "fps": self.fps,
            "camera_geometry": self.camera_geometry,
            "lora": self.lora,
            "negative_prompt": self.negative_prompt,
            "keyframes_anywhere": self.keyframes_anywhere,
            "loop": self.loop,
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True)
class BackendSettings:
    """How a worker runs its backend; the studio fills it from its settings.

    Args:
        backend: "builtin" or a name from ``generation.backends.catalog.BACKENDS``.
        models_dir: the local folder that holds one sub-folder per model (named as on the hub).
        device: "cuda", "cuda:1", "cpu", ...
        dtype: "bfloat16", "float16" or "float32" for the transformer and text encoder.
        weights_dir: the built-in model's weights folder; None runs random weights of
            `preset`. Open-weights backends take their fallback depth network from it.
        preset: the built-in model's size when `weights_dir` is None ("tiny", ...).
        autocast: the built-in model runs under bf16 autocast.
        native_fps: the frame rate the built-in model renders at.
        model_version: the built-in model's version as the recipe records it ("" derives it).
        cpu_offload: keep models in CPU memory and move each to the device while it runs
            (diffusers' model CPU offload): slower, fits smaller GPUs.
        vae_tiling: decode in tiles, which bounds the VAE's memory at high resolutions.
        depth_model: folder under ``models_dir`` of a Depth Anything checkpoint (transformers
            format), used for camera by geometry when present.
        resident_pipelines: how many pipelines (one per model folder) stay loaded at once; the
            least recently used one is dropped beyond that.
    """

    backend: str
    models_dir: Path
    device: str = "cuda"
    dtype: str = "bfloat16"
    weights_dir: Path | None = None
    preset: str = "tiny"
    autocast: bool = True
    native_fps: float = 24.0
    model_version: str = ""
    cpu_offload: bool = False
    vae_tiling: bool = False
    depth_model: str | None = "Depth-Anything-V2-Small-hf"
    resident_pipelines: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        if self.weights_dir is not None:
            object.__setattr__(self, "weights_dir", Path(self.weights_dir))
        if self.dtype not in ("bfloat16", "float16", "float32"):
            raise ValueError(f"dtype must be bfloat16, float16 or float32, got {self.dtype!r}")
        if self.resident_pipelines < 1:
            raise ValueError("resident_pipelines must be at least 1")


@dataclass(frozen=True)
class BackendRequest:
    """One clip to generate.

    Args:
        prompt: what the clip shows.
        mode: see :class:`Mode`.
        seed: noise seed; the same request and seed give the same clip on the same machine.
        quality: picks the number of denoising steps (``steps`` overrides).
        aspect: picks the size from the backend's default area (``height``/``width`` override).
        num_frames: frames to produce (rounded up to the model's ``1 + multiple * k``); for
            extend, the new frames. Default: the model's longest clip.
        guidance_scale: classifier-free guidance weight; None takes the model's default.
        negative_prompt: what the unconditional branch is told; None takes the model's default.
        image: (H, W, 3) first frame (i2v) or start keyframe.
        end_image: (H, W, 3) end keyframe.
        keyframes: ((frame index, (H, W, 3)), ...) images pinned anywhere in the clip.
        video: (T, H, W, 3) source clip (restyle, extend, reframe).
        video_fps: the source clip's frame rate (None: the model's).
        strength: restyle: how much of the source is repainted, in (0, 1].
        context_frames: extend: how many of the source's last frames the model sees.
        camera: the camera spec; None leaves the camera to the model.
        camera_route: one of :data:`CAMERA_ROUTES`.
        camera_strength: how strongly the cache render steers (VACE's conditioning scale, LTX's
            conditioning strength); None takes the backend's default.
        loop: the camera path runs out and back, so the clip loops.
        adapters: the character adapters to apply together, each at its own weight (a shot
            holds up to two characters); empty: none.
    """

    prompt: str
    mode: Mode = Mode.TEXT
    seed: int = 0
    quality: Quality = Quality.STANDARD
    aspect: str = "16:9"
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    image: Image | None = None
    end_image: Image | None = None
    keyframes: tuple[tuple[int, Image], ...] = ()
    video: Video | None = None
    video_fps: float | None = None
    strength: float = 0.6
    context_frames: int | None = None
    camera: CameraSpec | None = None
    camera_route: str = "auto"
    camera_strength: float | None = None
    loop: bool = False
    adapters: tuple[Adapter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "quality", Quality(self.quality))
        object.__setattr__(self, "adapters", tuple(self.adapters))
        if self.camera_route not in CAMERA_ROUTES:
            raise UnsupportedRequest(
                f"camera_route must be one of {', '.join(CAMERA_ROUTES)}, got {self.camera_route!r}"
            )
        if isinstance(self.camera, dict):
            object.__setattr__(self, "camera", CameraSpec.from_dict(self.camera))


@dataclass
class BackendResult:
    """A generated clip.

    Args:
        frames: uint8 (T, H, W, 3); for extend, only the new frames.
        fps: the model's frame rate.
        metadata: the recipe: backend, model folders, mode, seed, steps, guidance, size, frames,
            the prompt as sent (with camera words), how the camera was given, the adapter used,
            seconds per stage.
    """

    frames: Tensor
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """A video model the studio can drive. Subclasses set `name` and `capabilities`."""

    name: str
    capabilities: Capabilities

    def load(self) -> None:
        """Load what can be loaded before the first job (a worker calls it when it starts a
        job, so the load is timed apart from the render). Default: nothing."""
        return None

    @abstractmethod
    def generate(
        self,
        request: BackendRequest,
        *,
        progress: ProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> BackendResult:
        """Render one clip; raises SamplingCancelled when cancelled, UnsupportedRequest for a
        request the backend cannot do, ModelsNotInstalled for missing model folders."""

    def train_character(
        self,
        images: Sequence[Tensor],
        prompt: str,
        out_dir: str | Path,
        *,
        progress: TrainingProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
        **options: Any,
    ) -> Path:
        """Train a character adapter on reference frames (uint8 (H, W, 3) each) and write its
        folder, which requests then pass in ``adapters``. ``progress(step, total, loss)`` after
        every optimisation step; ``is_cancelled`` as for :meth:`generate`; a cancelled training
        writes no weights.

        Raises:
            UnsupportedRequest: the backend takes no adapters.
        """
        raise UnsupportedRequest(f"{self.name}: {self.capabilities.why_not('lora')}")

    def check(self, request: BackendRequest) -> None:
        """Raise :class:`UnsupportedRequest` (with the reason) unless the request can render."""
        caps = self.capabilities
        if not caps.supports(request.mode):
            raise UnsupportedRequest(f"{self.name}: {caps.why_not(request.mode)}")
        if request.keyframes and not caps.keyframes_anywhere:
            raise UnsupportedRequest(f"{self.name}: {caps.why_not('keyframes_anywhere')}")
        if request.adapters and not caps.lora:
            raise UnsupportedRequest(f"{self.name}: {caps.why_not('lora')}")
        for adapter in request.adapters:
            trained_for = adapter_meta(adapter.path).get("backend")
            if trained_for not in (None, self.name):
                raise UnsupportedRequest(
                    f"the character adapter in {adapter.path} was trained for {trained_for}; "
                    f"train it again for {self.name}"
                )
        if request.camera_route == "geometry" and not caps.camera_geometry:
            raise UnsupportedRequest(f"{self.name}: {caps.why_not('camera_geometry')}")
        if request.loop and not caps.loop:
            raise UnsupportedRequest(f"{self.name}: {caps.why_not('loop')}")
        if request.num_frames is not None and request.num_frames > caps.max_frames:
            raise UnsupportedRequest(
                f"{self.name} renders at most {caps.max_frames} frames "
                f"({caps.max_frames / caps.fps:.1f} s), got {request.num_frames}"
            )
        needs = {
            Mode.IMAGE: ("image",),
            Mode.KEYFRAMES: ("image", "end_image"),
            Mode.EXTEND: ("video",),
            Mode.RESTYLE: ("video",),
            Mode.REFRAME: ("video",),
        }.get(request.mode, ())
        for name in needs:
            if getattr(request, name) is None:
                raise UnsupportedRequest(f"{request.mode.label} needs {name.replace('_', ' ')}")

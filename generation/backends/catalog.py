"""The backends a worker can run, the model folders each needs, and what each can do.

Pure data: importing this module loads no model library, so the web process can read the
capability matrix of the active backend. The built-in model (``builtin``) ships with the
repository; the others are open-weights models driven through diffusers. A backend is one model family at one size; each role
(text to video, image to video, first-and-last frame, VACE control) is served by one folder
under the models directory, named as the repository on the Hugging Face hub, which is also what
``hf download <repo> --local-dir <models_dir>/<folder>`` writes.

Memory is computed from parameter counts (see below), not measured: it is what the weights take
on the GPU, before activations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from generation.backends.base import Capabilities
from generation.engine.camera import ASPECT_RATIOS
from generation.engine.modes import Mode
from generation.engine.native import render_size
from generation.engine.pipeline.video import MAX_FRAMES

BUILTIN = "builtin"


@dataclass(frozen=True)
class ModelFolder:
    """One diffusers-format model folder.

    Args:
        repo_id: where it is published, "owner/name"; the local folder is named "name".
        pipeline: the diffusers pipeline class its ``model_index.json`` names.
        transformer_gb: the denoiser's weights in bf16, per expert.
        experts: denoisers in the folder (Wan 2.2 A14B has a high-noise and a low-noise one).
        text_encoder_gb: the text encoder in bf16.
        other_gb: VAE (float32) and image encoder.
    """

    repo_id: str
    pipeline: str
    transformer_gb: float
    text_encoder_gb: float
    other_gb: float
    experts: int = 1

    @property
    def folder(self) -> str:
        return self.repo_id.rsplit("/", 1)[-1]

    @property
    def weights_gb(self) -> float:
        return self.transformer_gb * self.experts + self.text_encoder_gb + self.other_gb

    def path(self, models_dir: str | Path) -> Path:
        return Path(models_dir) / self.folder

    def download_command(self, models_dir: str | Path) -> str:
        return f"hf download {self.repo_id} --local-dir {self.path(models_dir)}"


@dataclass(frozen=True)
class BackendSpec:
    """A backend: a model family, the folder serving each role, and its capabilities.

    Args:
        name: what ``DAILIES_BACKEND`` is set to.
        family: "wan" or "ltx": which backend class drives it.
        title: shown in the studio.
        folders: role -> folder. Wan roles: "t2v", "i2v", "flf2v" (first and last frame),
            "vace" (control video + mask). LTX: "condition".
        capabilities: see :class:`Capabilities`.
    """

    name: str
    family: str
    title: str
    folders: Mapping[str, ModelFolder]
    capabilities: Capabilities

    def __post_init__(self) -> None:
        object.__setattr__(self, "folders", MappingProxyType(dict(self.folders)))

    def unique_folders(self) -> list[ModelFolder]:
        seen: dict[str, ModelFolder] = {}
        for folder in self.folders.values():
            seen.setdefault(folder.folder, folder)
        return list(seen.values())

    def memory_gb(self) -> dict[str, float]:
        """Weights in GPU memory, before activations (which grow with frames x pixels).

        ``all_resident``: every folder loaded, the text encoder and VAE shared between folders
        of one family (the loader shares identical components). ``largest_folder``: one folder
        at a time (``resident_pipelines=1``). ``cpu_offload``: the largest single model, which
        is what diffusers' model CPU offload keeps on the GPU at once.
        """
        folders = self.unique_folders()
        shared = max(f.text_encoder_gb + f.other_gb for f in folders)
        denoisers = sum(f.transformer_gb * f.experts for f in folders)
        return {
            "all_resident": round(denoisers + shared, 1),
            "largest_folder": round(max(f.weights_gb for f in folders), 1),
            "cpu_offload": round(max(max(f.transformer_gb, f.text_encoder_gb) for f in folders), 1),
        }


# Parameter counts of the published configurations, times two bytes (bf16); VAEs in float32:
# Wan 2.1 1.42 B, its VACE 2.15 B, Wan 2.1 14B 14.29 B, its image-to-video 16.39 B, its VACE
# 17.34 B, Wan 2.2 TI2V 5.00 B, LTX-Video 2B 1.92 B and 13B 13.04 B; UMT5-XXL encoder 5.68 B,
# T5-XXL encoder 4.76 B, CLIP ViT-H/14 0.63 B; Wan 2.1 VAE 0.13 B, Wan 2.2 VAE 0.70 B, LTX VAE
# 0.42 B (bf16).
_UMT5 = 11.4
_T5 = 9.5
_WAN_VAE = 0.5
_WAN22_VAE = 2.8
_CLIP_H = 1.3
_LTX_VAE = 0.8

_REFRAME = (
    "Reframing re-renders the shot through a new gate from the built-in model's 3D cache; "
    "switch to the built-in backend."
)
_NO_VACE = (
    "Camera moves are described in the prompt: Wan 2.2 has no VACE control model in diffusers; "
    "the conformance score shows how well the model followed."
)
_LOOP = (
    "Looping clips come from the built-in model, whose 3D cache path runs out and back so the "
    "last frame meets the first; switch to the built-in backend."
)
_WAN_REASONS = {
    Mode.REFRAME.value: _REFRAME,
    "loop": _LOOP,
    "keyframes_anywhere": "Wan pins images at the first and last frame only; LTX-Video pins "
    "them anywhere.",
}

BACKENDS: dict[str, BackendSpec] = {}


def _register(spec: BackendSpec) -> None:
    BACKENDS[spec.name] = spec


_register(
    BackendSpec(
        name="wan2.1-1.3b",
        family="wan",
        title="Wan 2.1 1.3B (480p)",
        folders={
            "t2v": ModelFolder(
                "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanPipeline", 2.8, _UMT5, _WAN_VAE
            ),
            # VACE renders image to video, keyframes and extension as masks over a control
            # video, and takes the camera as the 3D cache render.
            "vace": ModelFolder(
                "Wan-AI/Wan2.1-VACE-1.3B-diffusers", "WanVACEPipeline", 4.3, _UMT5, _WAN_VAE
            ),
        },
        capabilities=Capabilities(
            modes=frozenset({Mode.TEXT, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND, Mode.RESTYLE}),
            max_frames=81,
            max_size=(480, 832),
            default_size=(480, 832),
            frame_multiple=4,
            size_multiple=16,
            fps=16.0,
            camera_geometry=True,
            lora=True,
            negative_prompt=True,
            reasons=_WAN_REASONS,
        ),
    )
)

_register(
    BackendSpec(
        name="wan2.1-14b",
        family="wan",
        title="Wan 2.1 14B (720p)",
        folders={
            "t2v": ModelFolder(
                "Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanPipeline", 28.6, _UMT5, _WAN_VAE
            ),
            "i2v": ModelFolder(
                "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
                "WanImageToVideoPipeline",
                32.8,
                _UMT5,
                _WAN_VAE + _CLIP_H,
            ),
            "flf2v": ModelFolder(
                "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
                "WanImageToVideoPipeline",
                32.8,
                _UMT5,
                _WAN_VAE + _CLIP_H,
            ),
            "vace": ModelFolder(
                "Wan-AI/Wan2.1-VACE-14B-diffusers", "WanVACEPipeline", 34.7, _UMT5, _WAN_VAE
            ),
        },
        capabilities=Capabilities(
            modes=frozenset({Mode.TEXT, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND, Mode.RESTYLE}),
            max_frames=81,
            max_size=(720, 1280),
            default_size=(720, 1280),
            frame_multiple=4,
            size_multiple=16,
            fps=16.0,
            camera_geometry=True,
            lora=True,
            negative_prompt=True,
            reasons=_WAN_REASONS,
        ),
    )
)

_register(
    BackendSpec(
        name="wan2.2-5b",
        family="wan",
        title="Wan 2.2 TI2V 5B (720p, 24 fps)",
        folders={
            # One folder serves text and image to video.
            "t2v": ModelFolder(
                "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "WanPipeline", 10.0, _UMT5, _WAN22_VAE
            ),
            "i2v": ModelFolder(
                "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "WanPipeline", 10.0, _UMT5, _WAN22_VAE
            ),
        },
        capabilities=Capabilities(
            modes=frozenset({Mode.TEXT, Mode.IMAGE}),
            max_frames=121,
            max_size=(704, 1280),
            default_size=(704, 1280),
            frame_multiple=4,
            size_multiple=32,
            fps=24.0,
            camera_geometry=False,
            lora=True,
            negative_prompt=True,
            reasons={
                **_WAN_REASONS,
                "camera_geometry": _NO_VACE,
                Mode.KEYFRAMES.value: "Wan 2.2 5B has no first-and-last-frame model; use "
                "Wan 2.1 or LTX-Video for keyframes.",
                Mode.EXTEND.value: "Extension needs a VACE or LTX model; Wan 2.2 5B has neither.",
                Mode.RESTYLE.value: "diffusers' video-to-video pipeline does not take Wan 2.2's "
                "video autoencoder.",
            },
        ),
    )
)

_register(
    BackendSpec(
        name="wan2.2-a14b",
        family="wan",
        title="Wan 2.2 A14B (two 14B experts, 720p)",
        folders={
            "t2v": ModelFolder(
                "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "WanPipeline", 28.6, _UMT5, _WAN_VAE, experts=2
            ),
            "i2v": ModelFolder(
                "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
                "WanImageToVideoPipeline",
                28.6,
                _UMT5,
                _WAN_VAE,
                experts=2,
            ),
        },
        capabilities=Capabilities(
            modes=frozenset({Mode.TEXT, Mode.IMAGE}),
            max_frames=81,
            max_size=(720, 1280),
            default_size=(720, 1280),
            frame_multiple=4,
            size_multiple=16,
            fps=16.0,
            camera_geometry=False,
            lora=True,
            negative_prompt=True,
            reasons={
                **_WAN_REASONS,
                "camera_geometry": _NO_VACE,
                Mode.KEYFRAMES.value: "Wan 2.2 A14B has no first-and-last-frame model in "
                "diffusers; use Wan 2.1 or LTX-Video for keyframes.",
                Mode.EXTEND.value: "Extension needs a VACE or LTX model; Wan 2.2 A14B has neither.",
                Mode.RESTYLE.value: "diffusers' video-to-video pipeline does not drive Wan "
                "2.2's two experts.",
            },
        ),
    )
)

_LTX_REASONS = {
    Mode.REFRAME.value: _REFRAME,
    "loop": _LOOP,
    Mode.RESTYLE.value: "LTX-Video conditions on whole frames; restyling a clip is offered on "
    "Wan 2.1.",
}


def _ltx(name: str, title: str, repo_id: str, transformer_gb: float) -> BackendSpec:
    return BackendSpec(
        name=name,
        family="ltx",
        title=title,
        folders={
            "condition": ModelFolder(repo_id, "LTXConditionPipeline", transformer_gb, _T5, _LTX_VAE)
        },
        capabilities=Capabilities(
            modes=frozenset({Mode.TEXT, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND}),
            max_frames=257,
            max_size=(704, 1216),
            default_size=(480, 832),
            frame_multiple=8,
            size_multiple=32,
            fps=25.0,
            camera_geometry=True,
            lora=True,
            negative_prompt=True,
            keyframes_anywhere=True,
            reasons=_LTX_REASONS,
        ),
    )


_register(_ltx("ltx-video", "LTX-Video 0.9.5 2B", "Lightricks/LTX-Video-0.9.5", 3.8))
_register(_ltx("ltx-video-13b", "LTX-Video 0.9.7 13B", "Lightricks/LTX-Video-0.9.7-dev", 26.1))


def builtin_capabilities(fps: float = 24.0) -> Capabilities:
    """The built-in model: every mode, the camera as exact geometry, loops, and character
    adapters on its keyframe model; clips at its native size, upscaled for delivery."""
    return Capabilities(
        modes=frozenset(Mode),
        max_frames=MAX_FRAMES,
        max_size=render_size("16:9"),
        default_size=render_size("16:9"),
        sizes={aspect: render_size(aspect) for aspect in ASPECT_RATIOS},
        frame_multiple=1,
        size_multiple=2,
        fps=fps,
        camera_geometry=True,
        lora=True,
        negative_prompt=True,
        loop=True,
        reasons={
            "keyframes_anywhere": "The built-in model pins images at the first and last frame "
            "only; LTX-Video pins them anywhere.",
        },
    )


BUILTIN_TITLE = "Built-in 3D-cache model"


def backend_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}: choose one of builtin, {', '.join(BACKENDS)}"
        ) from None


def capabilities_of(name: str, *, builtin_fps: float = 24.0) -> Capabilities:
    """What backend `name` can do (the built-in model at `builtin_fps`).

    Raises:
        ValueError: an unknown backend name (the message lists the known ones).
    """
    if name == BUILTIN:
        return builtin_capabilities(builtin_fps)
    return backend_spec(name).capabilities


def title_of(name: str) -> str:
    return BUILTIN_TITLE if name == BUILTIN else backend_spec(name).title


def capability_matrix(*, builtin_fps: float = 24.0) -> list[dict[str, Any]]:
    """One row per backend, the built-in model first: its name, title, capabilities and
    folders, ready for JSON."""
    rows: list[dict[str, Any]] = [
        {
            "name": BUILTIN,
            "title": BUILTIN_TITLE,
            "family": BUILTIN,
            **builtin_capabilities(builtin_fps).to_dict(),
            "folders": {},
            "memory_gb": None,
        }
    ]
    for spec in BACKENDS.values():
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "family": spec.family,
                **spec.capabilities.to_dict(),
                "folders": {role: f.repo_id for role, f in spec.folders.items()},
                "memory_gb": spec.memory_gb(),
            }
        )
    return rows

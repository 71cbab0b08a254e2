"""Depth of a keyframe in metres, for the 3D cache: transformers' Depth Anything from a local
folder when one is installed, the built-in model's depth network otherwise (its weights from the
built-in model's folder, or random weights of its preset when none are installed, as the built-in
backend itself runs).

Depth Anything's relative checkpoints predict affine-invariant inverse depth; it is turned into
metres by placing the image's median at the distance the camera spec's base pose keeps from its
subject, so the spec's moves (in metres) travel the same share of the scene as in the built-in
model. Metric checkpoints (``depth_estimation_type == "metric"``) are used as they predict.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

from generation.backends.base import BackendSettings
from generation.backends.camera import DepthFn
from generation.engine import weights as engine_weights
from generation.engine.camera import ASPECT_RATIOS, FOCUS_RANGE_M, BasePose
from generation.engine.models.depth import PRESETS as DEPTH_PRESETS
from generation.engine.models.depth import DepthConfig, DepthModel, estimate_depth
from generation.engine.native import keyframe_size

SUBJECT_DISTANCE_M = math.dist(BasePose().position, BasePose().look_at)


class DepthAnything:
    """A Depth Anything checkpoint (transformers format) from a local folder.

    Args:
        folder: holds ``config.json``, the weights and ``preprocessor_config.json``.
        device: where the model runs.
    """

    def __init__(self, folder: str | Path, *, device: str | torch.device = "cpu") -> None:
        self.folder = Path(folder)
        self.processor = AutoImageProcessor.from_pretrained(self.folder, local_files_only=True)
        self.model = DepthAnythingForDepthEstimation.from_pretrained(
            self.folder, local_files_only=True
        ).eval()
        self.model.to(device)
        self.device = torch.device(device)
        self.metric = self.model.config.depth_estimation_type == "metric"

    @torch.inference_mode()
    def __call__(self, rgb: Tensor, focal_mm: float) -> Tensor:
        """uint8 (H, W, 3) -> float32 (H, W) metres; relative depth does not need the lens."""
        h, w = rgb.shape[:2]
        inputs = self.processor(images=rgb.numpy(), return_tensors="pt").to(self.device)
        pred = self.model(**inputs).predicted_depth.float()  # (1, h', w')
        pred = F.interpolate(pred[:, None], size=(h, w), mode="bilinear", align_corners=False)
        pred = pred[0, 0].cpu()  # (H, W)
        if self.metric:
            return pred.clamp(*FOCUS_RANGE_M)
        disparity = pred.clamp(min=1e-6)
        return (SUBJECT_DISTANCE_M * disparity.median() / disparity).clamp(*FOCUS_RANGE_M)


class BuiltinDepth:
    """The built-in model's depth network: metric depth given the lens.

    Args:
        model: a :class:`DepthModel` (the built-in pipeline's ``depth``, or one loaded by
            :func:`builtin_depth_model`).
    """

    def __init__(self, model: DepthModel) -> None:
        self.model = model.eval()

    def __call__(self, rgb: Tensor, focal_mm: float) -> Tensor:
        """uint8 (H, W, 3) -> float32 (H, W) metres; the network runs at the keyframe size of
        the image's nearest aspect, the size it was trained at."""
        h, w = rgb.shape[:2]
        aspect = min(ASPECT_RATIOS, key=lambda a: abs(math.log(ASPECT_RATIOS[a] * h / w)))
        return estimate_depth(self.model, rgb, focal_mm, size=keyframe_size(aspect))


def builtin_depth_model(
    weights_dir: Path | None, preset: str, *, device: str = "cpu"
) -> DepthModel:
    """The built-in depth network from `weights_dir` (``depth.safetensors`` + ``depth.json``), or
    random weights of `preset` (seeded) when no folder is given.

    Raises:
        WeightsNotInstalled: the folder lacks the depth weights (the message names the path).
    """
    if weights_dir is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = DepthModel(DEPTH_PRESETS[preset])
    else:
        config, _ = engine_weights.read_config(weights_dir, "depth", DepthConfig)
        model = DepthModel(config)
        engine_weights.load_weights(model, weights_dir, "depth")
    return model.to(device).eval()


def is_depth_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(
        p.suffix in (".safetensors", ".bin") for p in folder.glob("*")
    )


def depth_model(settings: BackendSettings) -> tuple[DepthFn, str]:
    """The depth function camera by geometry uses and its name for the recipe: Depth Anything
    from ``settings.models_dir / settings.depth_model`` when that folder holds a checkpoint,
    else the built-in depth network."""
    if settings.depth_model:
        folder = settings.models_dir / settings.depth_model
        if is_depth_folder(folder):
            return DepthAnything(folder, device=settings.device), settings.depth_model
    model = builtin_depth_model(settings.weights_dir, settings.preset, device=settings.device)
    return BuiltinDepth(model), "builtin"

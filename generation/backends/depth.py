"""Depth of a keyframe in metres, for the 3D cache: transformers' Depth Anything from a local
folder when one is installed, the built-in depth model otherwise.

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

from generation.backends.camera import DepthFn
from generation.engine.camera import FOCUS_RANGE_M, BasePose

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
    def __call__(self, rgb: Tensor) -> Tensor:
        """uint8 (H, W, 3) -> float32 (H, W) metres."""
        h, w = rgb.shape[:2]
        inputs = self.processor(images=rgb.numpy(), return_tensors="pt").to(self.device)
        pred = self.model(**inputs).predicted_depth.float()  # (1, h', w')
        pred = F.interpolate(pred[:, None], size=(h, w), mode="bilinear", align_corners=False)
        pred = pred[0, 0].cpu()  # (H, W)
        if self.metric:
            return pred.clamp(*FOCUS_RANGE_M)
        disparity = pred.clamp(min=1e-6)
        return (SUBJECT_DISTANCE_M * disparity.median() / disparity).clamp(*FOCUS_RANGE_M)


def is_depth_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(
        p.suffix in (".safetensors", ".bin") for p in folder.glob("*")
    )


def depth_model(
    models_dir: Path, folder_name: str | None, *, device: str = "cpu"
) -> tuple[DepthFn, str] | None:
    """The depth function to use and its name, or None when neither model is installed."""
    if folder_name:
        folder = models_dir / folder_name
        if is_depth_folder(folder):
            return DepthAnything(folder, device=device), folder_name
    try:
        from generation.engine.models.depth import estimate_depth
    except ImportError:
        return None
    return estimate_depth, "builtin"

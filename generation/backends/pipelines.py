"""The diffusers classes the backends drive, imported from the modules that define them.

diffusers' top-level names are lazy: under ``TYPE_CHECKING`` its ``__init__`` star-imports the
placeholder objects it uses when a dependency is missing before the real classes, so a type
checker reading ``from diffusers import WanPipeline`` sees a placeholder with no methods. The
defining modules give the real classes, at run time and to mypy alike.
"""

from __future__ import annotations

from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXConditionPipeline, LTXVideoCondition
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.pipelines.wan.pipeline_wan import WanPipeline
from diffusers.pipelines.wan.pipeline_wan_i2v import WanImageToVideoPipeline
from diffusers.pipelines.wan.pipeline_wan_vace import WanVACEPipeline
from diffusers.pipelines.wan.pipeline_wan_video2video import WanVideoToVideoPipeline

VideoPipeline = (
    WanPipeline
    | WanImageToVideoPipeline
    | WanVACEPipeline
    | WanVideoToVideoPipeline
    | LTXConditionPipeline
)
"""A pipeline a stage calls: each takes ``callback_on_step_end`` and ``output_type="pt"`` and
returns frames (1, T, 3, H, W)."""

__all__ = [
    "DiffusionPipeline",
    "LTXConditionPipeline",
    "LTXVideoCondition",
    "VideoPipeline",
    "WanImageToVideoPipeline",
    "WanPipeline",
    "WanVACEPipeline",
    "WanVideoToVideoPipeline",
]

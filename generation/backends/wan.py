"""Wan 2.1 / 2.2 through diffusers.

Which pipeline renders a mode depends on the folders a backend has (see the catalog):

- text to video: ``WanPipeline``;
- image to video: ``WanImageToVideoPipeline`` (its own folder), else VACE with the image as the
  kept first frame;
- start + end keyframes: the first-and-last-frame folder (``WanImageToVideoPipeline`` with
  ``last_image``), else VACE with both frames kept;
- extend: VACE with the source's last frames kept and the rest generated;
- restyle: ``WanVideoToVideoPipeline`` over the text-to-video folder.

Camera by geometry always runs on VACE: the cache render is the control video and the mask
marks what the cache does not see (VACE's mask: white = generate, black = keep), with the
keyframe kept as frame 0. For text to video the keyframe is Wan's own first frame, rendered by
the text-to-video pipeline as a one-frame clip.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from generation.backends.base import BackendRequest
from generation.backends.diffusion import DiffusersBackend, Plan, Stage
from generation.backends.pipelines import (
    VideoPipeline,
    WanImageToVideoPipeline,
    WanPipeline,
    WanVACEPipeline,
    WanVideoToVideoPipeline,
)
from generation.backends.stages import StepCounter, fit_video, given, to_pil, to_pil_mask
from generation.engine.modes import Mode

GREY = 127


class WanBackend(DiffusersBackend):
    family = "wan"
    default_guidance = 5.0
    default_negative = (
        "blurry, low quality, jpeg artifacts, distorted, deformed, static frame, watermark, "
        "subtitles, text, extra limbs, messy background"
    )
    # Wan's VAE and CLIP image encoder lose detail in half precision (the diffusers docs load
    # both in float32).
    component_dtypes: ClassVar[dict[str, torch.dtype]] = {
        "vae": torch.float32,
        "image_encoder": torch.float32,
    }

    def training_pipe(self) -> VideoPipeline:
        return self.pipe("t2v", WanPipeline)

    def stages(self, request: BackendRequest, route: str) -> list[Stage]:
        has = self.spec.folders
        mode = request.mode
        if route == "geometry":
            keyframe = [Stage("keyframe", "t2v", WanPipeline)] if mode is Mode.TEXT else []
            return [*keyframe, Stage("vace", "vace", WanVACEPipeline)]
        if mode is Mode.TEXT:
            return [Stage("t2v", "t2v", WanPipeline)]
        if mode is Mode.RESTYLE:
            return [Stage("v2v", "t2v", WanVideoToVideoPipeline)]
        if mode is Mode.IMAGE and "i2v" in has:
            return [Stage("i2v", "i2v", WanImageToVideoPipeline)]
        if mode is Mode.KEYFRAMES and "flf2v" in has:
            return [Stage("flf2v", "flf2v", WanImageToVideoPipeline)]
        return [Stage("vace", "vace", WanVACEPipeline)]

    def run(
        self,
        request: BackendRequest,
        plan: Plan,
        pipes: dict[str, VideoPipeline],
        steps: StepCounter,
    ) -> Tensor:
        h, w = plan.size
        common: dict[str, Any] = {
            "prompt": plan.prompt,
            "negative_prompt": plan.negative,
            "height": h,
            "width": w,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance,
            "generator": self.generator(request),
        }
        mode = request.mode
        if "t2v" in pipes:
            return steps.run(pipes["t2v"], num_frames=plan.num_frames, **common)
        if "v2v" in pipes:
            source = [to_pil(f) for f in self.fitted_video(request, plan)]
            return steps.run(pipes["v2v"], video=source, strength=request.strength, **common)
        if "i2v" in pipes or "flf2v" in pipes:
            pipe = pipes.get("i2v") or pipes["flf2v"]
            extra = {}
            if mode is Mode.KEYFRAMES:
                extra["last_image"] = to_pil(self.fitted(request, plan, "end_image"))
            image = to_pil(self.fitted(request, plan, "image"))
            return steps.run(pipe, image=image, num_frames=plan.num_frames, **common, **extra)
        video, generate = self.control(request, plan, pipes, steps, common)
        frames = steps.run(
            pipes["vace"],
            video=[to_pil(f) for f in video],
            mask=[to_pil_mask(m) for m in generate],
            conditioning_scale=self.camera_strength(request) if plan.route == "geometry" else 1.0,
            num_frames=plan.num_frames,
            **common,
        )
        if plan.context is not None:
            frames = frames[plan.context.shape[0] :]
        return frames

    def fitted_video(self, request: BackendRequest, plan: Plan) -> Tensor:
        return fit_video(given(request.video, "video"), plan.size)[: plan.num_frames]

    def control(
        self,
        request: BackendRequest,
        plan: Plan,
        pipes: dict[str, VideoPipeline],
        steps: StepCounter,
        common: dict[str, Any],
    ) -> tuple[Tensor, Tensor]:
        """VACE's control video, uint8 (T, H, W, 3), and where to generate, bool (T, H, W)."""
        h, w = plan.size
        t = plan.num_frames
        video = torch.full((t, h, w, 3), GREY, dtype=torch.uint8)
        generate = torch.ones((t, h, w), dtype=torch.bool)
        known: list[tuple[int, Tensor]] = []  # (frame index, uint8 (H, W, 3)) kept as given
        if plan.context is not None:
            known += list(enumerate(plan.context))
        elif request.mode is Mode.TEXT:  # geometry: Wan's own first frame is the keyframe
            known.append((0, steps.run(pipes["keyframe"], num_frames=1, **common)[0]))
        else:
            known.append((0, self.fitted(request, plan, "image")))
        if request.mode is Mode.KEYFRAMES:
            known.append((t - 1, self.fitted(request, plan, "end_image")))
        if plan.route == "geometry":
            start = plan.context.shape[0] - 1 if plan.context is not None else 0
            guide = self.guide(request, known[start][1], t - start)
            video[start:] = guide.holes_grey()
            generate[start:] = ~guide.seen
            plan.notes["depth_source"] = guide.depth_source
            plan.notes["cache_seen"] = round(guide.seen.float().mean().item(), 4)
        for i, frame in known:
            video[i] = frame
            generate[i] = False
        return video, generate

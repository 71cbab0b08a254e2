"""LTX-Video through diffusers' ``LTXConditionPipeline``: every mode is one call with a list of
conditions, each an image or a clip pinned at a frame.

- text to video: no condition;
- image to video: the image at frame 0;
- keyframes: the start image at frame 0 and the end image at the last frame, plus any images the
  request pins elsewhere (``keyframes``);
- extend: the source's last frames at frame 0; the frames after them are returned.

Camera by geometry adds the cache render as a conditioning clip from the keyframe's frame on, at
``camera_strength`` (1 would copy it; LTX starts those frames part-way denoised from it). The
render's unseen pixels take the keyframe's pixel at the same place, the still camera's guess,
since LTX conditions have no mask. For text to video the keyframe is LTX's own one-frame clip.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from generation.backends.base import BackendRequest, UnsupportedRequest
from generation.backends.diffusion import DiffusersBackend, Plan, Stage
from generation.backends.pipelines import LTXConditionPipeline, LTXVideoCondition, VideoPipeline
from generation.backends.stages import StepCounter, fit, to_pil
from generation.engine.modes import Mode


class LTXBackend(DiffusersBackend):
    family = "ltx"
    default_guidance = 3.0
    default_negative = "worst quality, inconsistent motion, blurry, jittery, distorted"
    default_camera_strength = 0.6

    def training_pipe(self) -> VideoPipeline:
        return self.pipe("condition", LTXConditionPipeline)

    def stages(self, request: BackendRequest, route: str) -> list[Stage]:
        main = Stage("condition", "condition", LTXConditionPipeline)
        if route == "geometry" and request.mode is Mode.TEXT:
            return [Stage("keyframe", "condition", LTXConditionPipeline), main]
        return [main]

    def run(
        self,
        request: BackendRequest,
        plan: Plan,
        pipes: dict[str, VideoPipeline],
        steps: StepCounter,
    ) -> Tensor:
        h, w = plan.size
        t = plan.num_frames
        common: dict[str, Any] = {
            "prompt": plan.prompt,
            "negative_prompt": plan.negative,
            "height": h,
            "width": w,
            "num_inference_steps": plan.steps,
            "guidance_scale": plan.guidance,
            "generator": self.generator(request),
            "frame_rate": round(self.capabilities.fps),
            # The timestep-conditioned decoder's settings from the model's own examples.
            "decode_timestep": 0.05,
            "decode_noise_scale": 0.025,
        }
        pinned: list[tuple[int, Tensor]] = []  # (frame index, uint8 (H, W, 3))
        if request.mode in (Mode.IMAGE, Mode.KEYFRAMES):
            pinned.append((0, self.fitted(request, plan, "image")))
        if request.mode is Mode.KEYFRAMES:
            pinned.append((t - 1, self.fitted(request, plan, "end_image")))
        for index, image in request.keyframes:
            if not 0 <= index < t:
                raise UnsupportedRequest(f"keyframe index {index} is outside the clip (0–{t - 1})")
            pinned.append((index, fit(image, plan.size, "keyframe")))

        conditions: list[LTXVideoCondition] = []
        if plan.route == "geometry":
            if plan.context is not None:
                start, keyframe = plan.context.shape[0] - 1, plan.context[-1]
            elif request.mode is Mode.TEXT:
                start, keyframe = 0, steps.run(pipes["keyframe"], num_frames=1, **common)[0]
                pinned.append((0, keyframe))
            else:
                start, keyframe = 0, pinned[0][1]
            guide = self.guide(request, keyframe, t - start)
            plan.notes["depth_source"] = guide.depth_source
            plan.notes["cache_seen"] = round(guide.seen.float().mean().item(), 4)
            conditions.append(
                LTXVideoCondition(
                    video=[to_pil(f) for f in guide.holes_from(keyframe)],
                    frame_index=start,
                    strength=self.camera_strength(request),
                )
            )
        if plan.context is not None:
            conditions.append(
                LTXVideoCondition(video=[to_pil(f) for f in plan.context], frame_index=0)
            )
        conditions += [LTXVideoCondition(image=to_pil(img), frame_index=i) for i, img in pinned]
        frames = steps.run(
            pipes["condition"], conditions=conditions or None, num_frames=t, **common
        )
        if plan.context is not None:
            frames = frames[plan.context.shape[0] :]
        return frames

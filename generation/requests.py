"""What may be rendered: a creator's request checked against the team's plan and the
mode's inputs, before any credit moves. Raises :class:`RenderRejected` with a message for
the user and the form field it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.core.files import File
from PIL import Image

from dailies.models import Mode, Quality, Resolution, Team
from generation.engine.camera import CameraSpec
from generation.engine.presets import ASPECTS
from generation.models import RenderJob

State = RenderJob.State

FPS_CHOICES = (8, 12, 24, 25, 30)
MAX_PROMPT = 2000


class RenderRejected(Exception):
    """The request cannot be rendered. ``field`` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class RenderRequest:
    """What a creator asks for; the form, the API and re-rolls all build one."""

    prompt: str
    mode: str = Mode.TEXT_TO_VIDEO
    quality: str = Quality.STANDARD
    resolution: int = Resolution.P720
    duration_s: int = 5
    fps: int = 24
    aspect: str = "16:9"
    seed: int | None = None
    camera: dict = field(default_factory=dict)
    commercial: bool = False
    # Inputs: restyle and extend start from a finished render of the team; image-to-video
    # animates an uploaded frame. ``strength`` is how far a restyle may move from its source.
    source_job_id: int | None = None
    strength: float = 0.6
    image: File | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Checked:
    request: RenderRequest  # with what the inputs fix (a restyle keeps its source's length)
    camera: dict
    source: RenderJob | None
    billed_seconds: int


MAX_IMAGE_BYTES = 20 * 1024 * 1024
EXTEND_TOTAL_S = 30


def _source(team: Team, req: RenderRequest) -> RenderJob:
    source = (
        RenderJob.objects.filter(team=team, pk=req.source_job_id).first()
        if req.source_job_id
        else None
    )
    if source is None:  # another team's render is as absent as a missing one
        raise RenderRejected(
            "Choose a finished render of your team to start from.", field="source_job"
        )
    if source.state != State.SUCCEEDED:
        raise RenderRejected("That render has not finished yet.", field="source_job")
    return source


def _check_image(image: File | None) -> None:
    if image is None:
        raise RenderRejected(
            "Image to video needs a reference frame: upload an image.", field="image"
        )
    if image.size > MAX_IMAGE_BYTES:
        raise RenderRejected("Reference frames are limited to 20 MB.", field="image")
    try:
        image.seek(0)
        with Image.open(image) as img:
            img.verify()
        image.seek(0)
    except Exception as exc:  # PIL raises many types for a file that is not an image
        raise RenderRejected(
            "That file is not an image we can read (PNG, JPEG or WebP).", field="image"
        ) from exc


def _inputs(team: Team, req: RenderRequest) -> tuple[RenderRequest, RenderJob | None, int]:
    """The mode's inputs, checked; returns the request as the inputs fix it, its source
    and the seconds to bill."""
    if req.mode == Mode.TEXT_TO_VIDEO:
        return req, None, req.duration_s
    if req.mode == Mode.IMAGE_TO_VIDEO:
        _check_image(req.image)
        return req, None, req.duration_s
    if req.mode == Mode.VIDEO_TO_VIDEO:
        source = _source(team, req)
        if not 0.05 <= req.strength <= 1.0:
            raise RenderRejected("Restyle strength must be between 0.05 and 1.", field="strength")
        fixed = replace(req, duration_s=source.duration_s, aspect=source.aspect, fps=source.fps)
        return fixed, source, source.duration_s
    if req.mode == Mode.EXTEND:
        source = _source(team, req)
        total = source.duration_s + req.duration_s
        limit = (
            max(EXTEND_TOTAL_S, team.max_duration_s)
            if team.max_duration_s >= 10
            else team.max_duration_s
        )
        if total > limit:
            raise RenderRejected(
                f"{team.plan.name} plan: extended clips up to {limit} s in total; this one would be {total} s"
                + (" — upgrade to extend to 30 s." if limit < EXTEND_TOTAL_S else "."),
                field="duration_s",
            )
        return replace(req, aspect=source.aspect, fps=source.fps), source, req.duration_s
    raise RenderRejected(
        "Start + end keyframes are not offered in the studio yet: use image to video.", field="mode"
    )


def validate(team: Team, req: RenderRequest) -> Checked:
    """Plan limits, inputs and well-formedness."""
    plan = team.plan
    prompt = req.prompt.strip()
    if not prompt:
        raise RenderRejected("Describe the shot: the prompt is empty.", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise RenderRejected(f"Prompts are limited to {MAX_PROMPT} characters.", field="prompt")
    if req.mode not in Mode.values:
        raise RenderRejected("Choose a mode.", field="mode")
    req, source, billed = _inputs(team, req)
    if req.quality not in Quality.values:
        raise RenderRejected("Choose Flash, Standard or Pro.", field="quality")
    if req.resolution not in Resolution.values:
        raise RenderRejected("Choose 540p, 720p, 1080p, 1440p or 4K.", field="resolution")
    if req.resolution > team.max_resolution:
        raise RenderRejected(
            f"{plan.name} plan: up to {team.max_resolution_label} and {team.max_duration_s} s "
            f"— upgrade for {Resolution(req.resolution).label}.",
            field="resolution",
        )
    if source is None and not 1 <= req.duration_s <= team.max_duration_s:
        raise RenderRejected(
            f"{plan.name} plan: clips of 1 to {team.max_duration_s} s"
            + (" — upgrade for longer clips." if req.duration_s > team.max_duration_s else "."),
            field="duration_s",
        )
    if req.fps not in FPS_CHOICES:
        raise RenderRejected(
            f"Frame rate must be one of {', '.join(map(str, FPS_CHOICES))} fps.", field="fps"
        )
    if req.aspect not in ASPECTS:
        raise RenderRejected(f"Aspect ratio must be one of {', '.join(ASPECTS)}.", field="aspect")
    if req.commercial and not plan.commercial_licence:
        raise RenderRejected(
            f"The {plan.name} plan has no commercial licence — upgrade to Standard to use "
            "renders commercially.",
            field="commercial",
        )
    if source is not None and req.mode == Mode.EXTEND and not 1 <= req.duration_s <= 10:
        raise RenderRejected("Extend by 1 to 10 seconds at a time.", field="duration_s")
    try:
        camera = CameraSpec.from_dict({**(req.camera or {}), "aspect": req.aspect})
    except (ValueError, TypeError) as exc:
        raise RenderRejected(f"Camera: {exc}", field="camera") from exc
    return Checked(request=req, camera=camera.to_dict(), source=source, billed_seconds=billed)

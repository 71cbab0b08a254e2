"""A render request and its quote: checked against the team's plan and the mode's inputs,
moderated and priced, before any credit moves.

``quote()`` is the one place a request is judged. The composer, its live estimate, re-roll,
promote and the render form all call it, and ``services.render_batch_submit`` takes what it
returns. Every refusal is a :class:`RenderRejected` (or another ``UserError``: a blocked
prompt, a price that cannot be computed) naming the form field it concerns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from django.core.files import File
from PIL import Image

from billing import pricing
from billing.limits import PlanLimits
from generation.engine.camera import ASPECT_RATIOS, CameraSpec
from generation.models import RenderJob
from generation.runtime import engine_info
from generation.vocabulary import Mode, Quality, Resolution
from moderation import services as moderation
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

FPS_CHOICES = (8, 12, 24, 25, 30)
MAX_PROMPT = 2000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_TAKES = 4
RESTYLE_STRENGTH = (0.05, 1.0)
EXTEND_STEP_S = (1, 10)

# What the studio's forms take today, and what they say about the rest. The active backend
# may not render every offered mode either: ``mode_refusal`` says why, in its words.
OFFERED_MODES = (Mode.TEXT, Mode.IMAGE, Mode.RESTYLE, Mode.EXTEND)
NOT_OFFERED = {
    Mode.KEYFRAMES: "the render service does not take a start and an end frame; use image to video",
    Mode.REFRAME: "the render service cannot change a finished clip's framing; use restyle",
}
SOURCE_MODES = (Mode.RESTYLE, Mode.EXTEND)


class RenderRejected(UserError):
    """The request cannot be rendered as asked; ``field`` names the form field concerned."""


def _mode_note(mode: Mode) -> str | None:
    if mode not in OFFERED_MODES:
        return f"Not offered yet: {NOT_OFFERED[mode]}."
    return engine_info().capabilities.why_not(mode)


def mode_refusal(mode: Mode) -> str | None:
    """Why ``mode`` cannot be rendered, or None when it can: the studio does not offer it yet,
    or the active backend cannot render it (its capability matrix says why)."""
    note = _mode_note(mode)
    return f"{mode.label}: {note}" if note else None


def mode_options() -> list[tuple[str, str, str]]:
    """``(value, label, why it is disabled or "")`` per mode, for the composer."""
    return [(mode.value, mode.label, _mode_note(mode) or "") for mode in Mode]


def model_duration_refusal(seconds: int) -> str | None:
    """Why one render of ``seconds`` is longer than the active backend makes, or None."""
    info = engine_info()
    if seconds <= info.max_duration_s:
        return None
    return (
        f"{info.title} renders at most {info.max_duration_s} s at a time; render a shorter "
        "clip and extend it."
    )


@dataclass(frozen=True)
class RenderRequest:
    """What a creator asks for; the forms, re-roll and promote (and later the API) build one.

    The camera carries the aspect ratio. Restyle and extend start from ``source_job_id``, a
    finished render of the team; image to video animates ``image``; ``strength`` is how far
    a restyle may move from its source.
    """

    prompt: str
    mode: Mode = Mode.TEXT
    quality: Quality = Quality.STANDARD
    resolution: int = Resolution.P720
    duration_s: int = 5
    fps: int = 24
    seed: int | None = None
    camera: CameraSpec = field(default_factory=CameraSpec)
    commercial: bool = False
    source_job_id: int | None = None
    strength: float = 0.6
    image: File | None = field(default=None, compare=False, repr=False)

    @property
    def aspect(self) -> str:
        return self.camera.aspect

    def fingerprint(self, *, takes: int) -> str:
        """SHA-256 of the request as asked (the image by its bytes): two submits with one
        idempotency key must have asked for the same thing."""
        image = None
        if self.image is not None:
            digest = hashlib.sha256()
            for chunk in self.image.chunks():
                digest.update(chunk)
            self.image.seek(0)
            image = digest.hexdigest()
        fields = {
            "prompt": self.prompt.strip(),
            "mode": str(self.mode),
            "quality": str(self.quality),
            "resolution": int(self.resolution),
            "duration_s": int(self.duration_s),
            "fps": int(self.fps),
            "seed": self.seed,
            "camera": self.camera.to_dict(),
            "commercial": self.commercial,
            "source_job_id": self.source_job_id,
            "strength": float(self.strength),
            "image": image,
            "takes": takes,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Quote:
    """A request that passed every check, with its price.

    Args:
        asked: the request as the creator sent it.
        request: the request as its inputs fix it (a restyle keeps its source's length,
            frame rate and aspect; an extension its source's frame rate and aspect).
        source: the finished render a restyle or an extension starts from.
        billed_seconds: what is priced (an extension bills only its new seconds).
        per_take: the price of one take.
        takes: how many takes, with seeds s, s+1, …
    """

    team: Team
    asked: RenderRequest
    request: RenderRequest
    source: RenderJob | None
    billed_seconds: int
    per_take: pricing.Estimate
    takes: int

    @property
    def credits(self) -> int:
        return self.per_take.credits * self.takes


def camera_from_data(data: object) -> CameraSpec:
    """A camera spec from JSON-like data (an API body, a stored recipe)."""
    if not isinstance(data, dict):
        raise RenderRejected("Camera: send an object with the camera's settings.", field="camera")
    try:
        return CameraSpec.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise RenderRejected(f"Camera: {exc}", field="camera") from exc


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
    if source.state != RenderJob.State.SUCCEEDED:
        raise RenderRejected("That render has not finished yet.", field="source_job")
    return source


def _check_image(image: File | None, *, draft: bool) -> None:
    if image is None:
        if draft:  # the live estimate is a GET: it cannot carry the upload
            return
        raise RenderRejected(
            "Image to video needs a reference frame: upload an image.", field="image"
        )
    if image.size is not None and image.size > MAX_IMAGE_BYTES:
        raise RenderRejected("Reference frames are limited to 20 MB.", field="image")
    try:
        image.seek(0)
        with Image.open(image) as img:
            img.verify()
        image.seek(0)
    except Exception as exc:  # an upload is untrusted: PIL raises many types for a bad file
        raise RenderRejected(
            "That file is not an image we can read (PNG, JPEG or WebP).", field="image"
        ) from exc


def _inputs(
    team: Team, req: RenderRequest, limits: PlanLimits, *, draft: bool
) -> tuple[RenderRequest, RenderJob | None, int]:
    """The mode's inputs, checked: the request as they fix it, its source, the seconds to bill."""
    if req.mode == Mode.TEXT:
        return req, None, req.duration_s
    if req.mode == Mode.IMAGE:
        _check_image(req.image, draft=draft)
        return req, None, req.duration_s
    source = _source(team, req)
    camera = replace(req.camera, aspect=source.aspect)
    if req.mode == Mode.RESTYLE:
        low, high = RESTYLE_STRENGTH
        if not low <= req.strength <= high:
            raise RenderRejected(
                f"Restyle strength must be between {low:g} and {high:g}.", field="strength"
            )
        fixed = replace(req, duration_s=source.duration_s, fps=source.fps, camera=camera)
        refusal = model_duration_refusal(source.duration_s)
        if refusal:
            raise RenderRejected(f"Restyle: {refusal}", field="source_job")
        return fixed, source, source.duration_s
    low, high = EXTEND_STEP_S
    if not low <= req.duration_s <= high:
        raise RenderRejected(f"Extend by {low} to {high} seconds at a time.", field="duration_s")
    refusal = limits.extend_refusal(source.duration_s + req.duration_s) or model_duration_refusal(
        req.duration_s
    )
    if refusal:
        raise RenderRejected(refusal, field="duration_s")
    return replace(req, fps=source.fps, camera=camera), source, req.duration_s


def validate(
    team: Team, req: RenderRequest, *, draft: bool = False
) -> tuple[RenderRequest, RenderJob | None, int]:
    """Plan limits, the mode's inputs and well-formedness; nothing is written.

    ``draft``: the live estimate, which may come before a prompt or an upload.
    Returns the request as its inputs fix it, its source render, and the seconds to bill.
    """
    limits = PlanLimits.of(team)
    prompt = req.prompt.strip()
    if not prompt and not draft:
        raise RenderRejected("Describe the shot: the prompt is empty.", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise RenderRejected(f"Prompts are limited to {MAX_PROMPT} characters.", field="prompt")
    if req.mode not in set(Mode):
        raise RenderRejected("Choose a mode.", field="mode")
    refusal = mode_refusal(Mode(req.mode))
    if refusal:
        raise RenderRejected(refusal, field="mode")
    if req.quality not in set(Quality):
        raise RenderRejected("Choose Flash, Standard or Pro.", field="quality")
    if req.resolution not in Resolution.values:
        raise RenderRejected("Choose 540p, 720p, 1080p, 1440p or 4K.", field="resolution")
    refusal = limits.resolution_refusal(req.resolution)
    if refusal:
        raise RenderRejected(refusal, field="resolution")
    if req.fps not in FPS_CHOICES:
        raise RenderRejected(
            f"Frame rate must be one of {', '.join(map(str, FPS_CHOICES))} fps.", field="fps"
        )
    if req.camera.aspect not in ASPECT_RATIOS:  # CameraSpec checks it too; say it plainly
        raise RenderRejected(
            f"Aspect ratio must be one of {', '.join(ASPECT_RATIOS)}.", field="aspect"
        )
    if req.commercial:
        refusal = limits.commercial_refusal()
        if refusal:
            raise RenderRejected(refusal, field="commercial")
    fixed, source, billed = _inputs(team, req, limits, draft=draft)
    if source is None:
        refusal = limits.duration_refusal(req.duration_s) or model_duration_refusal(req.duration_s)
        if refusal:
            raise RenderRejected(refusal, field="duration_s")
    return fixed, source, billed


def quote(
    *,
    team: Team,
    request: RenderRequest,
    takes: int = 1,
    user: User | None = None,
    draft: bool = False,
) -> Quote:
    """Validate, moderate and price ``takes`` takes of ``request``; nothing is spent.

    Moderation records a blocked prompt in its own transaction, so call this before the
    transaction that submits. ``draft`` (the live estimate) skips moderation and lets an
    empty prompt and a missing upload through.

    Raises:
        RenderRejected, moderation.ContentBlocked, pricing.PricingError: each a ``UserError``.
    """
    if not 1 <= takes <= MAX_TAKES:
        raise RenderRejected(f"Render 1 to {MAX_TAKES} takes at a time.", field="variants")
    fixed, source, billed = validate(team, request, draft=draft)
    if not draft:
        moderation.check(team=team, user=user, text=request.prompt, source="prompt")
    per_take = pricing.estimate(
        duration_s=billed, resolution=fixed.resolution, quality=fixed.quality, mode=fixed.mode
    )
    return Quote(
        team=team,
        asked=request,
        request=fixed,
        source=source,
        billed_seconds=billed,
        per_take=per_take,
        takes=takes,
    )

"""A render request and its quote: checked against the team's plan and the mode's inputs,
moderated and priced, before any credit moves.

``quote()`` is the one place a request is judged. The composer, its live estimate, re-roll,
promote and the API all call it, and ``services.render_batch_submit`` takes what it
returns. Every refusal is a :class:`RenderRejected` (or another ``UserError``: a blocked
prompt, a price that cannot be computed) naming the form field it concerns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from billing import pricing
from billing.limits import PlanLimits
from generation import runtime
from generation.engine.camera import ASPECT_RATIOS, CameraSpec
from generation.engine.camera_language import parse_camera_language
from generation.models import Artifact, RenderJob
from generation.runtime import engine_info
from generation.uploads import Frame, frame_from_pixels
from generation.vocabulary import Mode, Quality, Resolution
from moderation import services as moderation
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

FPS_CHOICES = (8, 12, 24, 25, 30)
MAX_PROMPT = 2000
MAX_TAKES = 4
RESTYLE_STRENGTH = (0.05, 1.0)
EXTEND_STEP_S = (1, 10)
# Locked characters one shot may hold.
MAX_CHARACTERS = 2

SOURCE_MODES = (Mode.RESTYLE, Mode.EXTEND, Mode.REFRAME)
# A loop's path runs out and back from its first frame, which these modes choose freely.
LOOP_MODES = (Mode.TEXT, Mode.IMAGE)


class RenderRejected(UserError):
    """The request cannot be rendered as asked; ``field`` names the form field concerned."""


class SourceNotFound(RenderRejected):
    """A render the request starts from is missing or another team's: to the team that
    asked, the two are the same (an API answers 404)."""


def mode_refusal(mode: Mode) -> str | None:
    """Why ``mode`` cannot be rendered, or None when it can: the active backend's capability
    matrix says why. The composer disables the mode with this note; the service refuses it."""
    note = engine_info().capabilities.why_not(mode)
    return f"{mode.label}: {note}" if note else None


def mode_options() -> list[tuple[str, str, str]]:
    """``(value, label, why it is disabled or "")`` per mode, for the composer."""
    return [
        (mode.value, mode.label, engine_info().capabilities.why_not(mode) or "") for mode in Mode
    ]


def loop_refusal(mode: Mode) -> str | None:
    """Why a clip of ``mode`` cannot loop, or None when it can."""
    if mode in LOOP_MODES:
        return None
    labels = " and ".join(m.label.lower() for m in LOOP_MODES)
    return f"Only {labels} can loop."


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
class CharacterLock:
    """A locked character as a render uses it, resolved by the characters app from the
    prompt's ``@Name`` or the composer's picker: its adapter (a folder the worker's backend
    trained, its version and the SHA-256 of its weights) and its references' files (what a
    take's figure is scored against)."""

    id: int
    name: str
    adapter_path: str
    version: int
    sha256: str
    references: tuple[str, ...] = ()
    scale: float = 1.0

    def as_recipe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.adapter_path,
            "version": self.version,
            "sha256": self.sha256,
            "scale": self.scale,
            "references": list(self.references),
        }


@dataclass(frozen=True)
class RenderRequest:
    """What a creator asks for; the forms, re-roll and promote (and later the API) build one.

    The camera carries the aspect ratio. Restyle, extend and reframe start from
    ``source_job_id``, a finished render of the team; ``strength`` is how far a restyle may
    move from its source. Image to video animates a start frame, and start + end keyframes
    run from a start frame to an end frame: each is a still checked at the edge
    (``image``, ``end_image``: a :class:`~generation.uploads.Frame`) or a finished render of
    the team (``image_job_id``: its last frame starts the clip;
    ``end_image_job_id``: its first frame ends it). ``loop``: the camera goes out and back.
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
    loop: bool = False
    image_job_id: int | None = None
    end_image_job_id: int | None = None
    image: Frame | None = field(default=None, compare=False, repr=False)
    end_image: Frame | None = field(default=None, compare=False, repr=False)
    characters: tuple[CharacterLock, ...] = ()

    @property
    def aspect(self) -> str:
        return self.camera.aspect

    def fingerprint(self, *, takes: int) -> str:
        """SHA-256 of the request as asked (an upload by its bytes): two submits with one
        idempotency key must have asked for the same thing."""
        fields: dict[str, object] = {
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
            "image": _digest(self.image),
            "takes": takes,
        }
        # Only when asked for, so a request without them keeps the fingerprint it had
        # before they existed (a replay across an upgrade still matches).
        extra = {
            "loop": self.loop or None,
            "image_job_id": self.image_job_id,
            "end_image_job_id": self.end_image_job_id,
            "end_image": _digest(self.end_image),
            "characters": [[c.id, c.version, c.sha256] for c in self.characters] or None,
        }
        fields |= {name: value for name, value in extra.items() if value is not None}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _digest(frame: Frame | None) -> str | None:
    return None if frame is None else frame.sha256


@dataclass(frozen=True)
class Quote:
    """A request that passed every check, with its price.

    Args:
        asked: the request as the creator sent it.
        request: the request as its inputs fix it (a restyle keeps its source's length,
            frame rate and aspect; an extension its source's frame rate and aspect; a
            reframe its source's length, frame rate and camera; a start or end frame taken
            from a render is its ``image`` or ``end_image``).
        source: the finished render a restyle, an extension or a reframe starts from.
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


def camera_from_words(words: str, base: CameraSpec | None = None) -> CameraSpec:
    """``base`` (or the default camera) with what camera words say applied ("slow push-in,
    85mm, f/1.4"): the phrases the composer turns into chips."""
    parsed = parse_camera_language(words)
    if parsed.errors:
        raise RenderRejected(f"Camera words: {'; '.join(parsed.errors)}.", field="camera_words")
    try:
        return parsed.to_spec(base)
    except ValueError as exc:
        raise RenderRejected(f"Camera words: {exc}", field="camera_words") from exc


def _finished(team: Team, job_id: int | None, *, field: str, pending: bool = False) -> RenderJob:
    """A finished render of the team; with ``pending``, one still queued or rendering is taken
    too (its worker waits for it: a storyboard submits a shot and its continuation at once)."""
    job = RenderJob.objects.filter(team=team, pk=job_id).first() if job_id else None
    if job is None:  # another team's render is as absent as a missing one
        raise SourceNotFound("Choose a finished render of your team to start from.", field=field)
    if job.state == RenderJob.State.SUCCEEDED or (pending and job.is_active):
        return job
    if job.is_active:
        raise RenderRejected("That render has not finished yet.", field=field)
    raise RenderRejected("That render did not finish: choose another.", field=field)


def _source(team: Team, req: RenderRequest, *, pending: bool = False) -> RenderJob:
    return _finished(team, req.source_job_id, field="source_job", pending=pending)


def _check_image(
    image: Frame | None,
    *,
    draft: bool,
    field: str = "image",
    missing: str = "Image to video needs a reference frame: upload an image.",
) -> None:
    if image is None and not draft:  # the live estimate is a GET: it cannot carry the upload
        raise RenderRejected(missing, field=field)
    if image is not None and not isinstance(image, Frame):
        # The edge (generation.uploads) decodes an upload; an open file here is a bug.
        raise TypeError(f"{field} must be a checked Frame, got {type(image).__name__}")


def _frame_of(job: RenderJob, which: Literal["first", "last"]) -> Frame:
    """The first or last delivered frame of a finished render."""
    artifact = job.artifacts.filter(kind=Artifact.Kind.VIDEO).first()
    if artifact is None:
        raise RenderRejected("That render has no video to take a frame from.")
    with artifact.file.open("rb") as fh:
        pixels = runtime.video_frame(fh, which)  # (H, W, 3) uint8
    return frame_from_pixels(pixels, name=f"job-{job.pk}-{which}.png")


def _frame(
    team: Team,
    upload: Frame | None,
    job_id: int | None,
    *,
    which: Literal["first", "last"],
    field: str,
    draft: bool,
    missing: str,
) -> Frame | None:
    """A start or end frame: an upload, or a frame of a finished render (the last frame of
    the render a clip starts from, the first frame of the one it leads into)."""
    if upload is not None and job_id is not None:
        raise RenderRejected("Send an image or a render to take it from, not both.", field=field)
    if job_id is None:
        _check_image(upload, draft=draft, field=field, missing=missing)
        return upload
    job = _finished(team, job_id, field=field)
    if draft:  # the estimate does not need the pixels
        return None
    try:
        return _frame_of(job, which)
    except RenderRejected as exc:
        raise RenderRejected(exc.message, field=field) from exc


def _inputs(
    team: Team, req: RenderRequest, limits: PlanLimits, *, draft: bool, pending: bool = False
) -> tuple[RenderRequest, RenderJob | None, int]:
    """The mode's inputs, checked: the request as they fix it, its source, the seconds to bill."""
    refusal = loop_refusal(req.mode) if req.loop else None
    if refusal:
        raise RenderRejected(refusal, field="loop")
    if req.mode == Mode.TEXT:
        return req, None, req.duration_s
    if req.mode in (Mode.IMAGE, Mode.KEYFRAMES):
        keyframes = req.mode == Mode.KEYFRAMES
        missing = (
            "Start + end keyframes needs a start frame: upload an image or name a render."
            if keyframes
            else "Image to video needs a reference frame: upload an image."
        )
        start = _frame(
            team, req.image, req.image_job_id, which="last", field="image", draft=draft,
            missing=missing,
        )  # fmt: skip
        fixed = replace(req, image=start)
        if keyframes:
            end = _frame(
                team, req.end_image, req.end_image_job_id, which="first", field="end_image",
                draft=draft,
                missing="Start + end keyframes needs an end frame: upload an image or name a "
                "render.",
            )  # fmt: skip
            fixed = replace(fixed, end_image=end)
        return fixed, None, req.duration_s
    if draft and req.mode == Mode.EXTEND and req.source_job_id is None:
        # An estimate of a continuation whose source is not rendered yet: it bills its new
        # seconds whatever the source turns out to be.
        shortest, longest = EXTEND_STEP_S
        if not shortest <= req.duration_s <= longest:
            raise RenderRejected(
                f"Extend by {shortest} to {longest} seconds at a time.", field="duration_s"
            )
        return req, None, req.duration_s
    source = _source(team, req, pending=pending)
    if req.mode == Mode.REFRAME:
        if req.camera.aspect == source.aspect:
            raise RenderRejected(
                f"Reframe to another aspect ratio than the source's {source.aspect}.",
                field="aspect",
            )
        # The source's own camera seen through the new gate: its moves are what the clip
        # shows, and what its conformance is measured against.
        camera = replace(source.camera, aspect=req.camera.aspect)
        fixed = replace(req, duration_s=source.duration_s, fps=source.fps, camera=camera)
        return fixed, source, source.duration_s
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
    team: Team, req: RenderRequest, *, draft: bool = False, pending_source: bool = False
) -> tuple[RenderRequest, RenderJob | None, int]:
    """Plan limits, the mode's inputs and well-formedness; nothing is written.

    ``draft``: the live estimate, which may come before a prompt, an upload or (for an
    extension) its source. ``pending_source``: the source may still be rendering.
    Returns the request as its inputs fix it, its source render, and the seconds to bill.
    """
    limits = PlanLimits.of(team)
    prompt = req.prompt.strip()
    if not prompt and not draft:
        raise RenderRejected("Describe the shot: the prompt is empty.", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise RenderRejected(f"Prompts are limited to {MAX_PROMPT} characters.", field="prompt")
    if "\x00" in prompt:  # a form refuses it too; no database stores it
        raise RenderRejected("The prompt contains a null character.", field="prompt")
    if len({c.id for c in req.characters}) > MAX_CHARACTERS:
        raise RenderRejected(
            f"A shot holds at most {MAX_CHARACTERS} locked characters.", field="prompt"
        )
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
    fixed, source, billed = _inputs(team, req, limits, draft=draft, pending=pending_source)
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
    pending_source: bool = False,
) -> Quote:
    """Validate, moderate and price ``takes`` takes of ``request``; nothing is spent.

    Moderation records a blocked prompt in its own transaction, so call this before the
    transaction that submits. ``draft`` (the live estimate) skips moderation and lets an
    empty prompt, a missing upload and an extension's missing source through.
    ``pending_source``: an extension may start from a render still queued or rendering (a
    storyboard's continuation, submitted with the shot it continues); its worker waits.

    Raises:
        RenderRejected, moderation.ContentBlocked, pricing.PricingError: each a ``UserError``.
    """
    if not 1 <= takes <= MAX_TAKES:
        raise RenderRejected(f"Render 1 to {MAX_TAKES} takes at a time.", field="variants")
    fixed, source, billed = validate(team, request, draft=draft, pending_source=pending_source)
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

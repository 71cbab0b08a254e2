"""The API's request and response bodies. Ranges come from the engine's own constants and
the render service's, so the schema says what the service accepts; the service still
judges every request (plan limits, a source's state, prices)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, Field, model_validator

from generation.engine.camera import (
    APERTURE_RANGE,
    ASPECT_RATIOS,
    FOCAL_RANGE_MM,
    FOCUS_RANGE_M,
    SHUTTER_RANGE_DEG,
    SPEED_RANGE,
)
from generation.requests import FPS_CHOICES, MAX_PROMPT

MAX_ID = 2**63 - 1
SEED_MAX = 2**31 - 1


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a null character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


# Free text a database can store: no NUL, no lone surrogates.
Text = Annotated[str, AfterValidator(_text)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Aspect = Literal["16:9", "2.39:1", "1:1", "9:16", "4:3"]
assert set(Aspect.__args__) == set(ASPECT_RATIOS)  # type: ignore[attr-defined]
Fps = Literal[8, 12, 24, 25, 30]
assert set(Fps.__args__) == set(FPS_CHOICES)  # type: ignore[attr-defined]
Resolution = Literal[540, 720, 1080, 1440, 2160]
QualityName = Literal["flash", "standard", "pro"]
MoveKind = Literal[
    "static", "pan", "tilt", "dolly", "truck", "crane", "orbit", "zoom", "handheld", "steadicam"
]


# --- camera -------------------------------------------------------------------------------------


class Move(Schema):
    kind: MoveKind = "static"
    direction: (
        Literal["none", "left", "right", "up", "down", "in", "out", "forward", "backward"] | None
    ) = Field(None, description="Each kind's own directions; empty: the kind's first one.")
    speed: float = Field(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1])
    easing: Literal["linear", "ease_in", "ease_out", "ease_in_out"] = "linear"
    seed: int = Field(0, ge=0, le=SEED_MAX)


Vec3 = Annotated[list[Annotated[float, Field(ge=-1e4, le=1e4)]], Field(min_length=3, max_length=3)]


class CameraKeyframe(Schema):
    t: float = Field(..., ge=0, le=600, description="Seconds from the clip's start.")
    position: Vec3
    look_at: Vec3
    focal_mm: float | None = Field(None, ge=FOCAL_RANGE_MM[0], le=FOCAL_RANGE_MM[1])
    focus_m: float | None = Field(None, ge=FOCUS_RANGE_M[0], le=FOCUS_RANGE_M[1])


class CameraIn(Schema):
    """The camera panel's settings; the aspect ratio is the request's ``aspect``."""

    focal_mm: float = Field(35.0, ge=FOCAL_RANGE_MM[0], le=FOCAL_RANGE_MM[1])
    aperture: float = Field(5.6, ge=APERTURE_RANGE[0], le=APERTURE_RANGE[1])
    focus_m: float | None = Field(None, ge=FOCUS_RANGE_M[0], le=FOCUS_RANGE_M[1])
    shutter_deg: float = Field(180.0, ge=SHUTTER_RANGE_DEG[0], le=SHUTTER_RANGE_DEG[1])
    moves: list[Move] = Field(
        default_factory=lambda: [Move(kind="static", direction=None, speed=1.0, seed=0)],
        max_length=10,
    )
    keyframes: list[CameraKeyframe] = Field(default_factory=list, max_length=32)
    interpolation: Literal["linear", "smooth"] = "smooth"


class CameraOut(Schema):
    focal_mm: float
    aperture: float
    focus_m: float | None
    shutter_deg: float
    aspect: str
    moves: list[dict[str, Any]]
    keyframes: list[dict[str, Any]]
    interpolation: str


# --- generations --------------------------------------------------------------------------------


class FrameRef(Schema):
    """A start or end frame: an image uploaded to ``/uploads``, or a finished generation
    (a start frame is its last frame, an end frame its first)."""

    upload_id: Id | None = None
    generation_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> FrameRef:
        if (self.upload_id is None) == (self.generation_id is None):
            raise ValueError("give upload_id or generation_id, one of them")
        return self


class Keyframes(Schema):
    start: FrameRef | None = None
    end: FrameRef | None = None


class GenerationCreate(Schema):
    """A render request. ``type`` video makes a clip from the prompt alone, from a start
    frame (image to video), or from a start and an end frame; extend, restyle and reframe
    start from ``source_generation_id``."""

    type: Literal["video", "extend", "reframe", "restyle"] = "video"
    prompt: Text = Field(..., max_length=MAX_PROMPT)
    camera: CameraIn | None = None
    camera_words: Text | None = Field(
        None,
        max_length=500,
        description='Camera language applied over `camera`: "slow push-in, 85mm, f/1.4".',
    )
    keyframes: Keyframes | None = None
    source_generation_id: Id | None = None
    strength: float = Field(
        0.6, ge=0, le=1, description="Restyle: how far it may move from its source, 0.05–1."
    )
    aspect: Aspect | None = Field(
        None, description="Empty: the aspect camera_words name, else 16:9. A reframe's new one."
    )
    duration_s: int = Field(5, ge=1, le=600, description="Extend: the seconds to add.")
    fps: Fps = 24
    resolution: Resolution = 720
    quality: QualityName = "standard"
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Empty: a random seed.")
    loop: bool = False
    commercial: bool = False
    callback_url: Text | None = Field(
        None, max_length=500, description="Receives this generation's state changes, signed."
    )
    shot_id: Id | None = Field(None, description="Render as a take of this shot.")


class Assets(Schema):
    video: str | None = None
    poster: str | None = None
    strip: str | None = None
    recipe: str | None = None


class Failure(Schema):
    code: Literal["cancelled", "render_failed"]
    message: str


class GenerationOut(Schema):
    id: int
    state: Literal["queued", "dreaming", "completed", "failed"]
    type: Literal["video", "extend", "reframe", "restyle"]
    mode: str
    prompt: str
    aspect: str
    duration_s: int
    fps: int
    resolution: int
    quality: str
    seed: int
    loop: bool
    camera: CameraOut
    source_generation_id: int | None
    start_frame_generation_id: int | None
    end_frame_generation_id: int | None
    shot_id: int | None
    progress: int = Field(..., description="Percent, 0–100.")
    eta_s: float | None
    credits_estimate: int
    credits_cost: int | None
    failure: Failure | None
    assets: Assets
    conformance: dict[str, Any] | None
    recipe: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GenerationPage(Schema):
    data: list[GenerationOut]
    next_cursor: str | None


class UploadOut(Schema):
    id: int
    bytes: int
    width: int
    height: int
    content_type: str
    created_at: datetime


# --- projects and shots -------------------------------------------------------------------------


class ProjectCreate(Schema):
    name: Text = Field(..., max_length=120)


class ProjectOut(Schema):
    id: int
    name: str
    archived: bool
    shots: int
    created_at: datetime
    updated_at: datetime


class ProjectPage(Schema):
    data: list[ProjectOut]
    next_cursor: str | None


class ShotCreate(Schema):
    """A shot's saved settings, as the composer keeps them; render it with
    ``POST /generations`` and ``shot_id``."""

    prompt: Text = Field(..., max_length=MAX_PROMPT)
    title: Text = Field("", max_length=120)
    camera: CameraIn | None = None
    camera_words: Text | None = Field(None, max_length=500)
    aspect: Aspect = "16:9"
    duration_s: int = Field(5, ge=1, le=600)
    fps: Fps = 24
    resolution: Resolution = 720
    quality: QualityName = "standard"
    seed: int | None = Field(None, ge=0, le=SEED_MAX)


class ShotOut(Schema):
    id: int
    project_id: int
    position: int
    title: str
    prompt: str
    mode: str
    aspect: str
    duration_s: int
    fps: int
    resolution: int
    quality: str
    seed: int | None
    camera: CameraOut
    current_generation_id: int | None
    generation_ids: list[int]
    created_at: datetime
    updated_at: datetime


# --- credits ------------------------------------------------------------------------------------


class Balance(Schema):
    available: int
    monthly: int
    topup: int
    held: int
    plan: str
    monthly_credits: int
    period_start: date | None
    next_billing_date: date
    api_requests_per_minute: int


class LedgerEntryOut(Schema):
    id: int
    kind: str
    label: str
    available_delta: int
    monthly_delta: int
    topup_delta: int
    held_delta: int
    available_after: int
    held_after: int
    memo: str
    generation_id: int | None
    created_at: datetime


class LedgerPage(Schema):
    data: list[LedgerEntryOut]
    next_cursor: str | None


class EstimateLine(Schema):
    label: str
    value: str


class EstimateOut(Schema):
    credits: int
    billed_seconds: int
    render_resolution: int
    lines: list[EstimateLine]
    available: int
    enough: bool


# --- storyboard exports -------------------------------------------------------------------------


class ExportFiles(Schema):
    """Paths on this server to fetch with the same key; present once the export is done."""

    video: str | None = Field(None, description="The film as one MP4.")
    timeline: str | None = Field(None, description="The edit as OpenTimelineIO (.otio).")
    edl: str | None = Field(None, description="The edit as a CMX 3600 EDL.")
    media: str | None = Field(None, description="The .otio and each shot's media (zip).")
    recipes: str | None = Field(None, description="Each take's recipe and a manifest (zip).")


class ExportOut(Schema):
    id: int
    project_id: int
    state: Literal["queued", "running", "completed", "failed"]
    progress: int = Field(..., description="Percent, 0–100.")
    step: str = Field(..., description="What the export is doing now, as the studio says it.")
    error: str | None = Field(None, description="Why a failed export failed.")
    duration_s: float | None = Field(None, description="The film's length, once completed.")
    files: ExportFiles
    created_at: datetime
    finished_at: datetime | None


# --- characters ---------------------------------------------------------------------------------


class TrainingOut(Schema):
    """One adapter version's training: its state, progress and price."""

    id: int
    version: int
    state: Literal["queued", "training", "ready", "failed", "cancelled"]
    step: int
    total: int
    loss: float | None
    eta_s: float | None
    sha256: str
    credits: int
    error: str
    created_at: datetime
    finished_at: datetime | None


class CharacterOut(Schema):
    id: int
    name: str
    description: str
    references: int
    current_version: int | None = Field(
        description="The adapter version renders use (`@Name` in a prompt); null until one "
        "is trained."
    )
    training: TrainingOut | None = Field(description="The newest adapter version.")
    created_at: datetime


class CharacterPage(Schema):
    items: list[CharacterOut]
    next_cursor: str | None

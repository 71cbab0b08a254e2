"""The storyboard as a plan: how each shot begins, what it depends on, and which shots need a
render. Reads only; ``services`` acts on it.

A boundary's transition is asked for on the shot after it. "Auto" is resolved here from the two
shots' prompts and cameras, with the reason in words. A shot that continues the one before it is
rendered as an extension of that shot's circled take, so it depends on it; a match cut renders
with the previous shot's camera. Each shot's inputs (its own settings, the camera it renders
with, and for a continuation the inputs and the take of the shot it continues) are fingerprinted:
a circled take rendered from other inputs is stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from generation.engine.camera import CameraSpec
from generation.models import RenderJob
from storyboards.models import Shot, Transition

# Words that say time passes between two shots: a crossfade says it too.
TIME_WORDS = (
    "later", "meanwhile", "next day", "next morning", "years", "hours", "flashback",
    "memory", "dream", "dissolve", "night falls", "dawn", "dusk",
)  # fmt: skip
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "and",
        "or",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "its",
        "his",
        "her",
        "their",
        "this",
        "that",
        "is",
        "are",
        "was",
        "be",
        "as",
        "by",
        "for",
        "then",
        "while",
        "still",
        "slowly",
        "slow",
        "fast",
        "very",
        "shot",
        "camera",
    ]
)
CONTINUE_OVERLAP = 0.5
MATCH_OVERLAP = 0.2


@dataclass(frozen=True)
class Boundary:
    """How a shot begins. ``kind`` is never AUTO: ``asked`` keeps what the creator chose and
    ``reason`` says why Auto chose ``kind``. ``seconds``: a crossfade's length, else 0."""

    asked: Transition
    kind: Transition
    reason: str
    seconds: float


@dataclass(frozen=True)
class ShotPlan:
    """One shot in the plan.

    Args:
        index: its place on the timeline, from 0.
        boundary: how it begins (None for the first shot).
        depends_on: the index of the shot it continues, or None.
        camera: the camera it renders with (a match cut's is the previous shot's).
        fingerprint: SHA-256 of its inputs as they stand.
        status: "new" (never rendered), "rendering", "failed", "stale" or "current".
    """

    shot: Shot
    index: int
    boundary: Boundary | None
    depends_on: int | None
    camera: CameraSpec
    fingerprint: str
    status: str

    @property
    def needs_render(self) -> bool:
        return self.status in ("new", "stale", "failed")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z']+", text.lower()) if w not in STOPWORDS}


def _move_kinds(camera: CameraSpec) -> set[str]:
    return {m.kind for m in camera.moves if m.kind != "static"}


def _describe(camera: CameraSpec) -> str:
    moves = ", ".join(m.label for m in camera.moves) or "static"
    return f"{camera.focal_mm:g} mm, {moves}"


def auto_transition(previous: Shot, shot: Shot, camera: CameraSpec) -> tuple[Transition, str]:
    """The transition Auto picks between ``previous`` (rendered with ``camera``) and ``shot``,
    and why, in one sentence."""
    prompt = shot.prompt.lower()
    for word in TIME_WORDS:
        if re.search(rf"\b{re.escape(word)}\b", prompt):
            return Transition.CROSSFADE, f"“{word}” says time passes: a crossfade says so too."
    before, after = _words(previous.prompt), _words(shot.prompt)
    shared = before & after
    overlap = len(shared) / max(1, len(before | after))
    kinds, next_kinds = _move_kinds(camera), _move_kinds(shot.camera)
    same_lens = abs(camera.focal_mm - shot.camera.focal_mm) <= 0.15 * camera.focal_mm
    if overlap >= CONTINUE_OVERLAP and (not next_kinds or next_kinds <= kinds or not kinds):
        subject = ", ".join(sorted(shared)[:3])
        return (
            Transition.CONTINUE,
            f"Same subject ({subject}) and a camera that can carry on: the shot picks up "
            "from the last frame.",
        )
    if overlap < MATCH_OVERLAP and same_lens and kinds == next_kinds:
        return (
            Transition.MATCH_CUT,
            f"Different scenes framed alike ({_describe(camera)}): a match cut keeps the "
            "camera so the compositions line up.",
        )
    if overlap >= CONTINUE_OVERLAP:
        return Transition.CUT, "Same subject from another camera: a cut to the new angle."
    return Transition.CUT, "A new subject and a new camera: a straight cut."


def _fingerprint(shot: Shot, camera: CameraSpec, upstream: tuple[str, int | None] | None) -> str:
    fields = {
        "prompt": shot.prompt.strip(),
        "mode": str(shot.mode),
        "quality": str(shot.quality),
        "resolution": int(shot.resolution),
        "duration_s": int(shot.duration_s),
        "fps": int(shot.fps),
        "seed": shot.seed,
        "camera": camera.to_dict(),
        "continues": list(upstream) if upstream else None,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _status(shot: Shot, fingerprint: str) -> str:
    job: RenderJob | None = shot.current_job if shot.current_job_id else None
    if job is None:
        return "new"
    if job.is_active:
        return "rendering"
    if job.state != RenderJob.State.SUCCEEDED:
        return "failed"
    # Empty: rendered before inputs were recorded; the first edit records them (services).
    if shot.rendered_inputs and shot.rendered_inputs != fingerprint:
        return "stale"
    return "current"


def storyboard_plan(shots: Sequence[Shot]) -> list[ShotPlan]:
    """Each shot of a timeline (in order) with its boundary, dependency, camera and status."""
    plans: list[ShotPlan] = []
    for index, shot in enumerate(shots):
        boundary: Boundary | None = None
        camera = shot.camera
        depends_on = None
        upstream = None
        if plans:
            previous = plans[-1]
            asked = Transition(shot.transition)
            kind, reason = asked, ""
            if asked == Transition.AUTO:
                kind, reason = auto_transition(previous.shot, shot, previous.camera)
            seconds = shot.transition_s if kind == Transition.CROSSFADE else 0.0
            boundary = Boundary(asked=asked, kind=kind, reason=reason, seconds=seconds)
            if kind == Transition.MATCH_CUT:
                camera = previous.camera
            elif kind == Transition.CONTINUE:
                depends_on = previous.index
                upstream = (previous.fingerprint, previous.shot.current_job_id)
        fingerprint = _fingerprint(shot, camera, upstream)
        plans.append(
            ShotPlan(
                shot=shot,
                index=index,
                boundary=boundary,
                depends_on=depends_on,
                camera=camera,
                fingerprint=fingerprint,
                status=_status(shot, fingerprint),
            )
        )
    return plans


def to_render(plans: Sequence[ShotPlan]) -> list[ShotPlan]:
    """The shots "Render storyboard" renders: stale, failed and never-rendered ones."""
    return [p for p in plans if p.needs_render]

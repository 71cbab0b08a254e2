"""A render as API clients and webhook receivers see it: one document, built here, so a
``GET`` of a generation and the webhook about it carry the same fields.

Clients see four states: queued → dreaming → completed | failed. Running and encoding are
both "dreaming"; a job the reaper hands back to the queue after it started stays
"dreaming"; a cancelled job is "failed" with the code ``cancelled``.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from generation.models import RenderJob
from generation.vocabulary import Mode

State = RenderJob.State

QUEUED, DREAMING, COMPLETED, FAILED = "queued", "dreaming", "completed", "failed"
CLIENT_STATES = (QUEUED, DREAMING, COMPLETED, FAILED)

# What a client asks for ("type") and the engine modes behind it: a video is text, image
# or start + end keyframes to video, by the frames it is given.
TYPES = {
    Mode.TEXT: "video",
    Mode.IMAGE: "video",
    Mode.KEYFRAMES: "video",
    Mode.EXTEND: "extend",
    Mode.RESTYLE: "restyle",
    Mode.REFRAME: "reframe",
}

# URL name of the API's file download (``api.generations``); reversed, never imported.
FILE_URL_NAME = "api-v1:generation_file"


def client_state(job: RenderJob) -> str:
    if job.state == State.SUCCEEDED:
        return COMPLETED
    if job.state in (State.FAILED, State.CANCELLED):
        return FAILED
    if job.state == State.QUEUED and job.started_at is None:
        return QUEUED
    return DREAMING


def _file_url(job: RenderJob, kind: str) -> str | None:
    try:
        return reverse(FILE_URL_NAME, kwargs={"generation_id": job.pk, "kind": kind})
    except NoReverseMatch:  # a project that mounts no API
        return None


def generation_document(job: RenderJob) -> dict[str, Any]:
    """The generation's public fields. Assets are paths on this server, to fetch with the
    same API key."""
    state = client_state(job)
    failure = None
    if state == FAILED:
        code = "cancelled" if job.state == State.CANCELLED else "render_failed"
        failure = {"code": code, "message": job.error_message}
    assets = {}
    if job.state == State.SUCCEEDED:
        for artifact in job.artifacts.all():
            url = _file_url(job, artifact.kind)
            if url:
                assets[artifact.kind] = url
    recipe = job.recipe
    return {
        "id": job.pk,
        "state": state,
        "type": TYPES[Mode(job.mode)],
        "mode": job.mode,
        "prompt": job.prompt,
        "aspect": job.aspect,
        "duration_s": job.duration_s,
        "fps": job.fps,
        "resolution": job.resolution,
        "quality": job.quality,
        "seed": job.seed,
        "loop": bool(recipe.get("loop", False)),
        "camera": job.camera.to_dict(),
        "source_generation_id": job.source_job_id,
        "start_frame_generation_id": recipe.get("image_job_id"),
        "end_frame_generation_id": recipe.get("end_image_job_id"),
        "shot_id": job.shot_id,
        "progress": job.percent,
        "eta_s": job.eta_s if state == DREAMING else None,
        "credits_estimate": job.estimate_credits,
        "credits_cost": job.cost_credits,
        "failure": failure,
        "assets": assets,
        "conformance": job.conformance,
        "recipe": recipe,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }

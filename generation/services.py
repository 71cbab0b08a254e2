"""Submitting renders: the only code that creates render jobs.

A submit takes a :class:`~generation.requests.Quote` (the request validated, moderated and
priced by ``requests.quote``) and, in one transaction holding the lock of the team's credit
account: finds an earlier batch with the same idempotency key (and returns its jobs), or
reserves the credits of every take at once, creates the batch and its jobs, and queues
them when the transaction commits. What happens to a job after that is
``generation.lifecycle``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from django.db import transaction

from billing import ledger
from generation import queue, requests
from generation.models import RenderBatch, RenderJob
from generation.requests import Quote, RenderRequest
from generation.runtime import engine_info
from generation.uploads import Frame
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

SEED_SPACE = 2**31


class IdempotencyConflict(UserError):
    """The idempotency key was already used for a different request."""

    def __init__(self) -> None:
        super().__init__(
            "This form was already submitted with other settings. Nothing new was charged: "
            "reload the page to render these settings."
        )


@dataclass(frozen=True)
class Submitted:
    """A batch and its jobs, take 0 first. ``replayed``: an earlier submit with the same
    idempotency key made them, and nothing was charged this time."""

    batch: RenderBatch
    jobs: list[RenderJob]
    replayed: bool


def _replay(batch: RenderBatch, fingerprint: str) -> Submitted:
    if batch.fingerprint and batch.fingerprint != fingerprint:
        raise IdempotencyConflict()
    return Submitted(batch=batch, jobs=list(batch.jobs.order_by("take")), replayed=True)


def render_batch_find(
    *, team: Team, idempotency_key: str, request: RenderRequest, takes: int
) -> Submitted | None:
    """The batch an earlier submit with this key made, or None for a new key.

    Raises :class:`IdempotencyConflict` when that submit asked for something else.
    """
    if not idempotency_key:
        return None
    batch = RenderBatch.objects.filter(team=team, idempotency_key=idempotency_key).first()
    if batch is None:
        return None
    return _replay(batch, request.fingerprint(takes=takes))


def _queue_priority(team: Team) -> int:
    # kombu's Redis transport serves priority 0 first; plans rank 9 highest.
    return 9 - team.plan.queue_priority


def _recipe(quote: Quote, seed: int) -> dict[str, Any]:
    """Everything needed to reproduce a take, frozen with the job."""
    info = engine_info()
    request = quote.request
    plain = {
        f.name: getattr(request, f.name)
        for f in fields(request)
        if f.name not in ("image", "end_image", "camera", "characters")
    }
    characters = [c.as_recipe() for c in request.characters]
    return {
        **plain,
        "mode": str(request.mode),
        "quality": str(request.quality),
        "resolution": int(request.resolution),
        "aspect": request.aspect,
        "prompt": request.prompt.strip(),
        "seed": seed,
        "camera": request.camera.to_dict(),
        "backend": info.backend,
        "model_version": info.model_version,
        "preset": info.preset,
        "native_fps": info.native_fps,
        "render_resolution": quote.per_take.render_resolution,
        "upscaled_to_4k": quote.per_take.upscaled_to_4k,
        # Every character's adapter is applied, each at its own scale, and each take's
        # figure is scored against every character's references.
        "adapters": [{k: c[k] for k in ("path", "scale", "version", "sha256")} for c in characters],
        "characters": [{**c, "applied": True} for c in characters],
    }


def _save_input(job: RenderJob, field: str, frame: Frame, stem: str) -> None:
    getattr(job, field).save(f"{stem}.png", frame.as_file(), save=False)
    job.recipe = {**job.recipe, field: getattr(job, field).name}


@transaction.atomic
def render_batch_submit(
    *,
    quote: Quote,
    user: User,
    idempotency_key: str = "",
    shot_id: int | None = None,
    callback_url: str = "",
) -> Submitted:
    """Reserve, create and queue the quote's takes, with seeds s, s+1, …; all or none.

    Runs under one lock of the team's credit account, so a replay of the same key finds
    the first submit's batch before any balance is looked at, and two submits that the
    balance fits only once reserve once. ``callback_url`` (checked beforehand with
    ``webhooks.services.target_check``) receives each take's state changes.

    Raises:
        ledger.InsufficientCredits: the takes cost more than the team has (nothing reserved).
        IdempotencyConflict: the key was used for another request.
    """
    team, request = quote.team, quote.request
    fingerprint = quote.asked.fingerprint(takes=quote.takes)
    ledger.lock_account(team)
    if idempotency_key:
        earlier = RenderBatch.objects.filter(team=team, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return _replay(earlier, fingerprint)
    reservations = ledger.reserve_many(
        team=team,
        credits=[quote.per_take.credits] * quote.takes,
        memo=f"Render: {request.prompt.strip()[:60]}",
    )
    batch = RenderBatch.objects.create(
        team=team,
        requested_by=user,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        takes=quote.takes,
        callback_url=callback_url,
    )
    first_seed = request.seed if request.seed is not None else secrets.randbelow(SEED_SPACE)
    info = engine_info()
    jobs = []
    for take, reservation in enumerate(reservations):
        seed = (first_seed + take) % SEED_SPACE
        recipe = _recipe(quote, seed)
        job = RenderJob.objects.create(
            team=team,
            batch=batch,
            take=take,
            shot_id=shot_id,
            requested_by=user,
            prompt=recipe["prompt"],
            mode=request.mode,
            quality=request.quality,
            resolution=request.resolution,
            duration_s=request.duration_s,
            fps=request.fps,
            camera=request.camera,
            aspect=request.aspect,
            seed=seed,
            recipe=recipe,
            backend=info.backend,
            model_version=info.model_version,
            estimate_credits=reservation.credits,
            reservation=reservation,
            priority=_queue_priority(team),
            source_job=quote.source,
        )
        inputs = [
            (name, upload, stem)
            for name, upload, stem in (
                ("input_image", request.image, f"job-{job.pk}"),
                ("input_end_image", request.end_image, f"job-{job.pk}-end"),
            )
            if upload is not None
        ]
        for name, upload, stem in inputs:
            _save_input(job, name, upload, stem)
        if inputs:
            job.save(update_fields=[name for name, _, _ in inputs] + ["recipe"])
        jobs.append(job)
    transaction.on_commit(lambda: [queue.render_job_enqueue(job) for job in jobs])
    return Submitted(batch=batch, jobs=jobs, replayed=False)


def render_submit(
    *,
    team: Team,
    user: User,
    request: RenderRequest,
    takes: int = 1,
    idempotency_key: str = "",
    shot_id: int | None = None,
    callback_url: str = "",
) -> Submitted:
    """Quote and submit in one call: a replayed key returns its batch without a new quote.

    Raises what ``requests.quote`` and :func:`render_batch_submit` raise, each a
    ``UserError``; in every case nothing was charged.
    """
    earlier = render_batch_find(
        team=team, idempotency_key=idempotency_key, request=request, takes=takes
    )
    if earlier is not None:
        return earlier
    quote = requests.quote(team=team, request=request, takes=takes, user=user)
    return render_batch_submit(
        quote=quote,
        user=user,
        idempotency_key=idempotency_key,
        shot_id=shot_id,
        callback_url=callback_url,
    )

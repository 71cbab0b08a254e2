"""Render jobs: submit, transition, cancel, reap. The only code that writes a RenderJob.

A job's life: validate against the plan → moderate → estimate → reserve credits → queue
on ``gpu`` (priority from the plan) → the worker runs it (``generation.execution``) →
settle; on failure or cancel the reservation is released in full.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from dailies import ledger, moderation, pricing
from dailies.models import Team, User
from generation import progress, requests
from generation.models import RenderJob
from generation.requests import FPS_CHOICES as FPS_CHOICES  # re-exported for callers
from generation.requests import Checked
from generation.requests import RenderRejected as RenderRejected
from generation.requests import RenderRequest as RenderRequest
from generation.runtime import engine_info

log = logging.getLogger(__name__)
State = RenderJob.State


def _estimate(checked: Checked) -> pricing.Estimate:
    req = checked.request
    return pricing.estimate(
        duration_s=checked.billed_seconds,
        resolution=req.resolution,
        quality=req.quality,
        mode=req.mode,
    )


def render_job_estimate(*, team: Team, request: RenderRequest) -> pricing.Estimate:
    return _estimate(requests.validate(team, request))


def _queue_priority(team: Team) -> int:
    # kombu's Redis transport serves priority 0 first; plans rank 9 highest.
    return 9 - team.plan.queue_priority


def render_job_enqueue(job: RenderJob) -> bool:
    """Hand the job to the broker. A broker outage is not the user's problem: the job
    stays queued, and the reaper hands it over again once the broker is back."""
    from generation.tasks import render_job_run

    try:
        render_job_run.apply_async(
            (job.pk,),
            queue="gpu",
            priority=job.priority,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:  # kombu raises OperationalError and friends; all mean "not now"
        log.exception("could not enqueue job %s; the reaper will retry", job.pk)
        return False
    RenderJob.objects.filter(pk=job.pk).update(queued_at=timezone.now())
    return True


def render_job_submit(
    *,
    team: Team,
    user: User,
    request: RenderRequest,
    idempotency_key: str = "",
    shot_id: int | None = None,
) -> RenderJob:
    """Validate, moderate, estimate, reserve and queue one render.

    Raises :class:`RenderRejected`, ``moderation.ContentBlocked`` or
    ``ledger.InsufficientCredits`` with a message for the user; in each case nothing was
    charged. The same ``idempotency_key`` returns the job it created the first time.
    """
    if idempotency_key:
        existing = RenderJob.objects.filter(team=team, idempotency_key=idempotency_key).first()
        if existing:
            return existing
    checked = requests.validate(team, request)
    # Its own transaction: the audit row stays even though nothing else happens.
    moderation.check(team=team, user=user, text=request.prompt, source="prompt")
    estimate = _estimate(checked)
    try:
        return _create_job(
            team=team,
            user=user,
            checked=checked,
            estimate=estimate,
            idempotency_key=idempotency_key,
            shot_id=shot_id,
        )
    except IntegrityError:
        # A concurrent request with the same key won the race: return its job.
        if idempotency_key:
            return RenderJob.objects.get(team=team, idempotency_key=idempotency_key)
        raise


@transaction.atomic
def _create_job(
    *,
    team: Team,
    user: User,
    checked: Checked,
    estimate: pricing.Estimate,
    idempotency_key: str,
    shot_id: int | None,
) -> RenderJob:
    info = engine_info()
    request = checked.request
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    reservation = ledger.reserve(
        team=team, credits=estimate.credits, memo=f"Render: {request.prompt[:60]}"
    )
    recipe = {
        **{k: v for k, v in asdict(request).items() if k != "image"},
        "prompt": request.prompt.strip(),
        "seed": seed,
        "camera": checked.camera,
        "backend": info.backend,
        "model_version": info.model_version,
        "preset": info.preset,
        "native_fps": info.native_fps,
        "render_resolution": estimate.render_resolution,
        "upscaled_to_4k": estimate.upscaled_to_4k,
        "adapters": [],
    }
    job = RenderJob.objects.create(
        team=team,
        shot_id=shot_id,
        requested_by=user,
        prompt=recipe["prompt"],
        mode=request.mode,
        quality=request.quality,
        resolution=request.resolution,
        duration_s=request.duration_s,
        fps=request.fps,
        aspect=request.aspect,
        seed=seed,
        recipe=recipe,
        backend=info.backend,
        model_version=info.model_version,
        estimate_credits=estimate.credits,
        reservation=reservation,
        idempotency_key=idempotency_key,
        priority=_queue_priority(team),
        source_job=checked.source,
    )
    if request.image is not None:
        name = f"job-{job.pk}{Path(request.image.name or 'frame.png').suffix.lower() or '.png'}"
        job.input_image.save(name, request.image, save=False)
        job.recipe = {**job.recipe, "input_image": job.input_image.name}
        job.save(update_fields=["input_image", "recipe"])
    transaction.on_commit(lambda: render_job_enqueue(job))
    return job


# --- Transitions ----------------------------------------------------------------------------


def _lock(job_id: int) -> RenderJob:
    return RenderJob.objects.select_for_update().get(pk=job_id)


def _transition(job: RenderJob, new_state: str, **fields: object) -> RenderJob:
    job.check_transition(new_state)
    job.state = new_state
    for name, value in fields.items():
        setattr(job, name, value)
    job.save()
    transaction.on_commit(lambda: progress.push(job))
    return job


@transaction.atomic
def render_job_claim(*, job_id: int, worker: str) -> RenderJob | None:
    """Mark a queued job running for ``worker``; None when it is not queued (re-delivery,
    cancelled meanwhile, already done)."""
    job = _lock(job_id)
    if job.state != State.QUEUED:
        return None
    if job.cancel_requested:
        _close(job, State.CANCELLED, "Cancelled before it started. Your credits were refunded.")
        return None
    now = timezone.now()
    return _transition(
        job,
        State.RUNNING,
        worker=worker,
        attempts=job.attempts + 1,
        started_at=job.started_at or now,
        heartbeat_at=now,
        progress_step=0,
    )


@transaction.atomic
def render_job_encoding(*, job_id: int) -> RenderJob:
    job = _lock(job_id)
    return _transition(job, State.ENCODING, heartbeat_at=timezone.now())


def _close(job: RenderJob, state: str, message: str) -> RenderJob:
    ledger.release(reservation=job.reservation, memo=f"Refund: job {job.pk} {state}")
    return _transition(job, state, error_message=message[:500], finished_at=timezone.now())


@transaction.atomic
def render_job_fail(*, job_id: int, message: str) -> RenderJob | None:
    job = _lock(job_id)
    if not job.is_active:
        return None
    credits = job.reservation.credits
    return _close(job, State.FAILED, f"{message} Your {credits} credits were refunded.")


@transaction.atomic
def render_job_mark_cancelled(*, job_id: int) -> RenderJob | None:
    """The worker stopped at a step boundary after a cancel request."""
    job = _lock(job_id)
    if not job.is_active:
        return None
    return _close(job, State.CANCELLED, "Cancelled. Your credits were refunded.")


@transaction.atomic
def render_job_cancel(*, job: RenderJob) -> RenderJob:
    """Cancel from the UI or API: a queued job stops now, a running one at its next step."""
    job = _lock(job.pk)
    if not job.is_active:
        return job
    if job.state == State.QUEUED:
        # The queued message stays in the broker; the worker's claim sees the job is no
        # longer queued and drops it.
        return _close(job, State.CANCELLED, "Cancelled. Your credits were refunded.")
    job.cancel_requested = True
    job.save(update_fields=["cancel_requested"])
    transaction.on_commit(lambda: progress.push(job))
    return job


@transaction.atomic
def render_job_succeed(
    *,
    job_id: int,
    attach: Callable[[RenderJob], None],
    timings: dict,
    conformance: dict | None,
) -> RenderJob | None:
    """Attach the artifacts, settle the reservation for the actual cost, finish.

    ``attach(job)`` stores the files and creates the Artifact rows inside this
    transaction, so a failure leaves no artifact visible.
    """
    job = _lock(job_id)
    if job.state != State.ENCODING:
        return None
    attach(job)
    ledger.settle(reservation=job.reservation, credits=job.estimate_credits)
    return _transition(
        job,
        State.SUCCEEDED,
        cost_credits=job.estimate_credits,
        finished_at=timezone.now(),
        timings=timings,
        conformance=conformance,
        progress_step=job.progress_total,
        eta_s=0,
    )


# --- Crash safety -----------------------------------------------------------------------------


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)


def render_jobs_reap(
    *, now: datetime | None = None, stale_after_s: float | None = None
) -> ReapReport:
    """Find running jobs whose worker stopped reporting; re-run them once, else fail and
    refund. Safe to run from any number of processes at once."""
    now = now or timezone.now()
    stale_after_s = stale_after_s or settings.RENDER_STALE_AFTER_S
    cutoff = now - timedelta(seconds=stale_after_s)
    report = ReapReport()
    stale = RenderJob.objects.filter(
        state__in=[State.RUNNING, State.ENCODING], heartbeat_at__lt=cutoff
    ).values_list("pk", flat=True)
    for job_id in stale:
        with transaction.atomic():
            job = _lock(job_id)
            if job.state not in (State.RUNNING, State.ENCODING) or job.heartbeat_at >= cutoff:
                continue  # it reported meanwhile, or another reaper got it
            if job.attempts < settings.RENDER_MAX_ATTEMPTS and not job.cancel_requested:
                _transition(job, State.QUEUED, worker="", progress_step=0, eta_s=None)
                transaction.on_commit(lambda job=job: render_job_enqueue(job))
                report.requeued.append(job.pk)
            else:
                credits = job.reservation.credits
                _close(
                    job,
                    State.FAILED,
                    "The worker rendering this shot stopped responding. "
                    f"Your {credits} credits were refunded.",
                )
                report.failed.append(job.pk)
    # Queued jobs the broker may never have received (an outage at submit time, or an
    # embedded Redis restart): hand them over again. A second message is harmless.
    waiting = RenderJob.objects.filter(state=State.QUEUED).filter(
        Q(queued_at__isnull=True)
        | Q(queued_at__lt=now - timedelta(seconds=settings.RENDER_REQUEUE_AFTER_S))
    )
    for job in waiting:
        if render_job_enqueue(job):
            report.reenqueued.append(job.pk)
    if report.requeued or report.failed or report.reenqueued:
        log.warning(
            "reaper: requeued %s, failed %s, re-enqueued %s",
            report.requeued,
            report.failed,
            report.reenqueued,
        )
    return report


def render_jobs_requeue_waiting() -> list[int]:
    """Queue every queued job again: after an embedded Redis restart the broker is empty.

    Harmless when the messages are still there: a job is claimed once, and a second
    delivery of a job that is no longer queued does nothing.
    """
    return [
        job.pk for job in RenderJob.objects.filter(state=State.QUEUED) if render_job_enqueue(job)
    ]


def render_jobs_recover_at_start(*, sole_worker_pool: bool) -> ReapReport:
    """Run when a stack starts. With ``sole_worker_pool`` (the embedded stack, whose
    workers all start now) no job can really be running, so every running job is an
    orphan of the last shutdown and is reaped at once; otherwise the normal threshold
    applies. Queued jobs are handed to the broker again either way."""
    report = render_jobs_reap(stale_after_s=1e-6 if sole_worker_pool else None)
    report.reenqueued = sorted(set(report.reenqueued) | set(render_jobs_requeue_waiting()))
    return report

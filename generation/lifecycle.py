"""A render job's life after submit: claimed by a worker, encoding, succeeded, failed,
cancelled, or reaped when its worker died. Every transition goes through the job's state
machine under a row lock, and every exit from it settles or releases the job's credits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import ledger
from generation import documents, events, leases, progress, queue
from generation.leases import ReapReport
from generation.models import RenderJob

log = logging.getLogger(__name__)
State = RenderJob.State


def _lock(job_id: int) -> RenderJob:
    return RenderJob.objects.select_for_update().get(pk=job_id)


def _transition(job: RenderJob, new_state: str, **fields: object) -> RenderJob:
    job.check_transition(new_state)
    before = documents.client_state(job)
    job.state = new_state
    for name, value in fields.items():
        setattr(job, name, value)
    job.save()
    events.job_changed(job, before=before)
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
def render_job_fail(*, job_id: int, message: str, detail: str = "") -> RenderJob | None:
    """Fail an active job and refund it. ``message`` is a plain sentence for the user;
    ``detail`` (the exception) is kept for administrators."""
    job = _lock(job_id)
    if not job.is_active:
        return None
    credits = job.reservation.credits
    job.error_detail = detail
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
    recipe: dict | None = None,
    character_scores: dict[str, float] | None = None,
) -> RenderJob | None:
    """Attach the artifacts, settle the reservation for the actual cost, finish.

    ``attach(job)`` stores the files and creates the Artifact rows inside this
    transaction, so a failure leaves no artifact visible. ``recipe``: the recipe as
    rendered (the worker's backend, model version and account of the run), which replaces
    the one frozen at submit. ``character_scores``: the drift score of each locked character
    the take holds, by character id.
    """
    job = _lock(job_id)
    if job.state != State.ENCODING:
        return None
    attach(job)
    ledger.settle(reservation=job.reservation, credits=job.estimate_credits)
    ran: dict[str, Any] = {}
    if recipe is not None:
        ran = {
            "recipe": recipe,
            "backend": recipe.get("backend", job.backend),
            "model_version": recipe.get("model_version", job.model_version),
        }
    return _transition(
        job,
        State.SUCCEEDED,
        cost_credits=job.estimate_credits,
        finished_at=timezone.now(),
        timings=timings,
        conformance=conformance,
        character_scores=character_scores or {},
        progress_step=job.progress_total,
        eta_s=0,
        **ran,
    )


# --- Crash safety -----------------------------------------------------------------------------


def _requeue_lapsed(job: RenderJob) -> None:
    _transition(job, State.QUEUED, worker="", progress_step=0, eta_s=None)


def _fail_lapsed(job: RenderJob) -> None:
    said = "The worker rendering this shot stopped responding."
    _close(job, State.FAILED, f"{said} Your {job.reservation.credits} credits were refunded.")


RENDER_JOBS = leases.Lease(
    objects=RenderJob.objects,
    running=(State.RUNNING, State.ENCODING),
    lock=_lock,
    fail=_fail_lapsed,
    log=log,
    said="reaper: requeued %(requeued)s, failed %(failed)s, re-enqueued %(reenqueued)s",
    requeue=_requeue_lapsed,
    may_requeue=leases.retries_left,
    heartbeat=leases.last_beat,
    queued=State.QUEUED,
    enqueue=queue.render_job_enqueue,
)


def render_jobs_reap(
    *, now: datetime | None = None, stale_after_s: float | None = None
) -> ReapReport:
    """Find running jobs whose worker stopped reporting, or whose worker process on this
    machine is gone; re-run them once, else fail and refund. Safe to run from any number
    of processes at once."""
    return leases.reap(
        RENDER_JOBS, now=now, stale_after_s=stale_after_s or settings.RENDER_STALE_AFTER_S
    )


def render_jobs_requeue_waiting() -> list[int]:
    """Queue every queued job again: after an embedded Redis restart the broker is empty.

    Harmless when the messages are still there: a job is claimed once, and a second
    delivery of a job that is no longer queued does nothing.
    """
    return leases.resend_queued(RENDER_JOBS)


def render_jobs_recover_at_start(*, sole_worker_pool: bool) -> ReapReport:
    """Run when a stack starts. With ``sole_worker_pool`` (the embedded stack, whose
    workers all start now) no job can really be running, so every running job is an
    orphan of the last shutdown and is reaped at once; otherwise the normal threshold
    applies. Queued jobs are handed to the broker again either way."""
    report = render_jobs_reap(stale_after_s=leases.ORPHANED_AFTER_S if sole_worker_pool else None)
    report.reenqueued = sorted(set(report.reenqueued) | set(render_jobs_requeue_waiting()))
    return report

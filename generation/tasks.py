"""Thin Celery tasks: look the job up, call the service, return."""

from __future__ import annotations

from celery import shared_task

from generation import execution, services


@shared_task(acks_late=True, ignore_result=True, reject_on_worker_lost=True)
def render_job_run(job_id: int) -> str:
    # Idempotent: a job that is no longer queued (re-delivery, cancelled) is skipped.
    return execution.render_job_execute(job_id)


@shared_task(ignore_result=True)
def render_jobs_reap() -> dict:
    report = services.render_jobs_reap()
    return {"requeued": report.requeued, "failed": report.failed}

"""Thin Celery tasks: look the job up, call the worker's code or a service, return."""

from __future__ import annotations

from celery import shared_task

from generation import execution, lifecycle, queue


@shared_task(name=queue.RENDER_TASK, acks_late=True, ignore_result=True, reject_on_worker_lost=True)
def render_job_run(job_id: int) -> str:
    # Idempotent: a job that is no longer queued (re-delivery, cancelled) is skipped.
    return execution.render_job_execute(job_id)


@shared_task(ignore_result=True)
def render_jobs_reap() -> dict[str, list[int]]:
    report = lifecycle.render_jobs_reap()
    return {"requeued": report.requeued, "failed": report.failed}

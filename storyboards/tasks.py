"""Thin Celery tasks of the storyboard: look the export up, call the service, return."""

from __future__ import annotations

from celery import shared_task

from storyboards import services


@shared_task(name=services.EXPORT_TASK, acks_late=True, ignore_result=True)
def storyboard_export_run(export_id: int) -> str:
    # Idempotent: an export that is no longer queued (a re-delivery) is skipped.
    return services.storyboard_export_execute(export_id)


@shared_task(name="storyboards.tasks.storyboard_exports_reap", ignore_result=True)
def storyboard_exports_reap() -> list[int]:
    return services.storyboard_exports_reap()

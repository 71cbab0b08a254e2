"""Thin Celery tasks: look the adapter up, call the worker's code or a service, return."""

from __future__ import annotations

from celery import shared_task

from characters import execution, lifecycle, queue


@shared_task(name=queue.TRAIN_TASK, acks_late=True, ignore_result=True, reject_on_worker_lost=True)
def adapter_train(adapter_id: int) -> str:
    # Idempotent: an adapter that is no longer queued (re-delivery, cancelled) is skipped.
    return execution.adapter_train_execute(adapter_id)


@shared_task(ignore_result=True)
def adapters_reap() -> dict[str, list[int]]:
    report = lifecycle.adapters_reap()
    return {"requeued": report.requeued, "failed": report.failed}

"""Thin Celery tasks: post a delivery, and retry it with backoff until it lands or gives up."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from webhooks import services


@shared_task(name=services.DELIVER_TASK, bind=True, acks_late=True, ignore_result=True)
def webhook_deliver(self: Any, delivery_id: int) -> None:
    delay = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if delay is not None:
        # The delivery row counts attempts; Celery's own count would only cap it twice.
        raise self.retry(countdown=delay, max_retries=None)


@shared_task(ignore_result=True)
def webhook_deliveries_sweep() -> list[int]:
    return services.webhook_deliveries_sweep()

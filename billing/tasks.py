"""Thin Celery tasks for the platform."""

from __future__ import annotations

from celery import shared_task

from billing.cycle import credits_cycle_run


@shared_task(acks_late=True, ignore_result=True)
def credits_monthly_cycle() -> int:
    """Hourly from beat; idempotent, so re-delivery or a double schedule changes nothing."""
    return len(credits_cycle_run().granted)

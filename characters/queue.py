"""Handing an adapter's training to the broker, by task name (as render jobs are): the code
that queues it never imports the worker's code."""

from __future__ import annotations

import logging

from django.utils import timezone

from characters.models import CharacterAdapter
from generation.queue import RENDER_QUEUE
from studio.celery import app

log = logging.getLogger(__name__)

TRAIN_TASK = "characters.tasks.adapter_train"


def adapter_enqueue(adapter: CharacterAdapter) -> bool:
    """Send the training to the ``gpu`` queue; an outage leaves it queued for the reaper."""
    try:
        app.send_task(
            TRAIN_TASK,
            args=(adapter.pk,),
            queue=RENDER_QUEUE,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:  # kombu raises OperationalError and friends; all mean "not now"
        log.exception("could not enqueue character adapter %s; the reaper will retry", adapter.pk)
        return False
    CharacterAdapter.objects.filter(pk=adapter.pk).update(queued_at=timezone.now())
    return True

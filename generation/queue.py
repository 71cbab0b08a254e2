"""Handing a job to the broker.

The render task is named here and sent by name, so the code that queues a job never imports
the task module (which imports the worker's code): submit → broker → task → execution runs
one way, with the broker as the seam.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from generation.models import RenderJob
from studio.celery import app

log = logging.getLogger(__name__)

RENDER_TASK = "generation.tasks.render_job_run"
RENDER_QUEUE = "gpu"


def render_job_enqueue(job: RenderJob, *, countdown: float = 0) -> bool:
    """Hand the job to the broker (to run ``countdown`` seconds from now). A broker outage is
    not the user's problem: the job stays queued, and the reaper hands it over again once the
    broker is back."""
    try:
        app.send_task(
            RENDER_TASK,
            args=(job.pk,),
            queue=RENDER_QUEUE,
            priority=job.priority,
            countdown=countdown or None,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:  # kombu raises OperationalError and friends; all mean "not now"
        log.exception("could not enqueue job %s; the reaper will retry", job.pk)
        return False
    RenderJob.objects.filter(pk=job.pk).update(queued_at=timezone.now())
    return True

"""Progress from the worker to the browser.

The engine calls back every step; :class:`ProgressReporter` throttles that to ~4 updates a
second, saves the numbers on the job (what a page reload shows) and pushes the rendered
status partial to the job's channel group (and its project's), which the consumer relays
to htmx-ext-ws as an out-of-band swap.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string
from django.utils import timezone

from generation.models import RenderJob

log = logging.getLogger(__name__)


def job_group(job_id: int) -> str:
    return f"render_job_{job_id}"


def project_group(project_id: int) -> str:
    return f"project_{project_id}"


def groups_for(job: RenderJob) -> list[str]:
    groups = [job_group(job.pk)]
    if job.shot is not None:
        groups.append(project_group(job.shot.project_id))
    return groups


def push(job: RenderJob) -> None:
    """Send the job's current status partial to everyone watching it. Never raises: a
    broker hiccup must not fail a render (the page falls back to polling)."""
    try:
        html = render_to_string("generation/_job_status.html", {"job": job, "oob": True})
        layer = get_channel_layer()
        message = {"type": "job.update", "html": html, "job_id": job.pk, "state": job.state}
        for group in groups_for(job):
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # logged, not raised: see docstring
        log.exception("could not push progress of job %s", job.pk)


class ProgressReporter:
    """The engine's ``progress(step, total)`` callback for one job."""

    def __init__(self, job: RenderJob, *, min_interval_s: float = 0.25) -> None:
        self.job = job
        self.min_interval_s = min_interval_s
        self.started = time.monotonic()
        self.last_push = 0.0

    def __call__(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step < total and now - self.last_push < self.min_interval_s:
            return
        self.last_push = now
        elapsed = now - self.started
        eta = elapsed * (total - step) / step if step else None
        RenderJob.objects.filter(pk=self.job.pk, state=RenderJob.State.RUNNING).update(
            progress_step=step, progress_total=total, eta_s=eta, heartbeat_at=timezone.now()
        )
        self.job.progress_step, self.job.progress_total, self.job.eta_s = step, total, eta
        push(self.job)

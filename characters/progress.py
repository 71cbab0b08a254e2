"""Training progress from the worker to the character page: the same status markup and
progress bar as a render's, pushed to the character's channel group."""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string
from django.utils import timezone

from characters.models import CharacterAdapter

log = logging.getLogger(__name__)


def character_group(character_id: int) -> str:
    return f"character_{character_id}"


def push(adapter: CharacterAdapter) -> None:
    """Send the adapter's status partial to everyone watching its character. Never raises:
    the page falls back to polling."""
    try:
        html = render_to_string(
            "characters/_adapter_status.html", {"adapter": adapter, "oob": True}
        )
        message = {"type": "job.update", "html": html, "job_id": adapter.pk, "state": adapter.state}
        async_to_sync(get_channel_layer().group_send)(
            character_group(adapter.character_id), message
        )
    except Exception:  # logged, not raised: see docstring
        log.exception("could not push progress of character adapter %s", adapter.pk)


class TrainingReporter:
    """The trainer's ``progress(step, total, loss)`` callback: saves step, running loss and
    time left on the adapter (what a reload shows) about four times a second, and pushes them."""

    def __init__(self, adapter: CharacterAdapter, *, min_interval_s: float = 0.25) -> None:
        self.adapter = adapter
        self.min_interval_s = min_interval_s
        self.started = time.monotonic()
        self.last_push = 0.0

    def __call__(self, step: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if step < total and now - self.last_push < self.min_interval_s:
            return
        self.last_push = now
        eta = (now - self.started) * (total - step) / step if step else None
        CharacterAdapter.objects.filter(
            pk=self.adapter.pk, state=CharacterAdapter.State.TRAINING
        ).update(
            progress_step=step,
            progress_total=total,
            eta_s=eta,
            loss=loss,
            heartbeat_at=timezone.now(),
        )
        a = self.adapter
        a.progress_step, a.progress_total, a.eta_s, a.loss = step, total, eta, loss
        push(a)

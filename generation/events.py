"""What a render's state change tells the outside world: a webhook per client-visible
state (``generation.dreaming``, ``generation.completed``, ``generation.failed``) to the
team's endpoints and to the callback URL the render was submitted with.

Called by ``lifecycle`` inside the transition's transaction, so the deliveries exist if and
only if the transition committed.
"""

from __future__ import annotations

from generation import documents
from generation.models import RenderJob
from webhooks import services as webhooks


def job_changed(job: RenderJob, *, before: str) -> None:
    """Publish the job's new client state when it differs from ``before``."""
    after = documents.client_state(job)
    if after == before:
        return
    webhooks.event_publish(
        team=job.team,
        event=f"generation.{after}",
        data=documents.generation_document(job),
        callback_url=job.batch.callback_url,
    )

"""Writes for webhooks: endpoints, the signing secret, publishing events and delivering them.

``event_publish`` runs inside the transaction that made the event and creates one delivery
per target; the deliveries are handed to Celery when that transaction commits.
``webhook_delivery_attempt`` posts one, signed, and says when to try again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import urllib3
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from studio.celery import app
from studio.errors import UserError
from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from webhooks.targets import TargetRefused, post, target_check

if TYPE_CHECKING:
    from accounts.models import Team, User

log = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.tasks.webhook_deliver"
MAX_ENDPOINTS = 10
State = WebhookDelivery.State


# --- the signing secret and endpoints ----------------------------------------------------------


def signing_secret(team: Team) -> WebhookSecret:
    """The team's signing secret, made on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(
        team=team, defaults={"secret": signing.new_secret()}
    )
    return secret


@transaction.atomic
def signing_secret_rotate(*, team: Team) -> WebhookSecret:
    """A new secret; deliveries from now on are signed with it."""
    secret = signing_secret(team)
    secret.secret = signing.new_secret()
    secret.save(update_fields=["secret"])
    return secret


@transaction.atomic
def webhook_endpoint_create(
    *, team: Team, actor: User, url: str, description: str = ""
) -> WebhookEndpoint:
    """An endpoint for every event of the team. Raises ``TargetRefused`` (field ``url``)."""
    url = url.strip()
    target_check(url, field="url")
    if WebhookEndpoint.objects.filter(team=team).count() >= MAX_ENDPOINTS:
        raise UserError(f"A team has at most {MAX_ENDPOINTS} endpoints.", field="url")
    if WebhookEndpoint.objects.filter(team=team, url=url).exists():
        raise UserError("That URL is already an endpoint of this team.", field="url")
    signing_secret(team)
    return WebhookEndpoint.objects.create(
        team=team, url=url, description=description.strip()[:120], created_by=actor
    )


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint; its past deliveries stay in the log, and pending ones stop."""
    endpoint.deliveries.filter(state=State.PENDING).update(
        state=State.FAILED, next_attempt_at=None, last_error="The endpoint was removed."
    )
    endpoint.delete()


# --- publishing ---------------------------------------------------------------------------------


def _enqueue(delivery_id: int, *, countdown: float = 0) -> bool:
    try:
        app.send_task(
            DELIVER_TASK,
            args=(delivery_id,),
            queue="default",
            countdown=countdown or None,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:  # a broker outage: the sweep hands it over again
        log.exception("could not enqueue webhook delivery %s", delivery_id)
        return False
    return True


def event_publish(
    *, team: Team, event: str, data: dict[str, Any], callback_url: str = ""
) -> list[WebhookDelivery]:
    """Create a delivery of ``event`` for each active endpoint of the team and for
    ``callback_url``; they are queued when the current transaction commits."""
    targets: list[tuple[WebhookEndpoint | None, str]] = [
        (endpoint, endpoint.url)
        for endpoint in WebhookEndpoint.objects.filter(team=team, is_active=True)
    ]
    if callback_url:
        targets.append((None, callback_url))
    if not targets:
        return []
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event,
        "created_at": timezone.now().isoformat(),
        "data": data,
    }
    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(
            team=team,
            endpoint=endpoint,
            event_id=event_id,
            event=event,
            url=url,
            payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
            next_attempt_at=now,
        )
        for endpoint, url in targets
    ]
    transaction.on_commit(lambda: [_enqueue(d.pk) for d in deliveries])
    return deliveries


# --- delivering ---------------------------------------------------------------------------------


def _retry_delays() -> list[float]:
    return [float(s) for s in settings.WEBHOOK_RETRY_DELAYS_S]


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_delivery_attempt(*, delivery_id: int) -> float | None:
    """Post a pending delivery once. Returns the seconds to wait before the next attempt,
    or None when there is none (delivered, given up, or not pending any more).

    No lock is held while the request is out (a receiver may take seconds): two attempts
    racing may both post, which receivers handle by the event id, as any redelivery.
    """
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, state=State.PENDING).first()
    if delivery is None:
        return None
    secret = signing_secret(delivery.team)
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Dailies-Webhooks/1",
        "Dailies-Event": delivery.event,
        "Dailies-Webhook-Id": str(delivery.event_id),
        signing.HEADER: signing.sign(secret.secret, int(time.time()), body),
    }
    status: int | None = None
    error = ""
    final = False
    try:
        target = target_check(delivery.url)
        status = post(target, body, headers, timeout_s=settings.WEBHOOK_TIMEOUT_S)
        if not 200 <= status < 300:
            error = f"The receiver answered {status}."
    except TargetRefused as exc:
        error, final = exc.message, True
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = f"No answer: {type(exc).__name__}."
    attempts = delivery.attempts + 1
    delays = _retry_delays()
    now = timezone.now()
    fields: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error}
    delay = None
    if not error:
        fields |= {"state": State.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif final or attempts > len(delays):
        fields |= {"state": State.FAILED, "next_attempt_at": None}
    else:
        delay = delays[attempts - 1]
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, state=State.PENDING, attempts=delivery.attempts
    ).update(**fields)
    return delay if updated else None


def webhook_deliveries_sweep(*, now: Any = None, late_s: float = 60.0) -> list[int]:
    """Queue again every pending delivery whose attempt is ``late_s`` overdue: its message
    was lost (a broker outage, a worker killed mid-attempt). A second message is harmless."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        state=State.PENDING, next_attempt_at__lt=now - timedelta(seconds=late_s)
    ).values_list("pk", flat=True)[:500]
    return [pk for pk in due if _enqueue(pk)]

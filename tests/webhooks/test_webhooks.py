"""Webhooks: which targets are allowed, the signature, retries with backoff, and the events a
render's life publishes. Deliveries go to a real HTTP server on 127.0.0.1 (private targets
are allowed for these tests, as the setting allows)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from generation import execution, lifecycle
from generation.models import RenderJob
from tests.api.conftest import SMALL, api_client
from tests.webhooks.receiver import receiver
from webhooks import services
from webhooks.models import WebhookDelivery
from webhooks.targets import TargetRefused, target_check
from webhooks.tasks import webhook_deliver

pytestmark = pytest.mark.django_db(transaction=True)


def verify_as_documented(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's check, written as docs/api.md gives it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, signature = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "https:///nohost",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(url, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(TargetRefused) as info:
        target_check(url, field="callback_url")
    assert info.value.field == "callback_url"


def test_a_public_address_is_allowed(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    target = target_check("https://93.184.215.14:8443/hooks?x=1")
    assert (target.host, target.port, target.path) == ("93.184.215.14", 8443, "/hooks?x=1")


def test_the_api_refuses_a_private_callback_url(seeded, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    api = api_client()
    response = api.post("/api/v1/generations", SMALL | {"callback_url": "http://10.0.0.5/h"})
    assert response.status_code == 422 and response.json()["field"] == "callback_url"
    assert not RenderJob.objects.exists()


def test_a_render_posts_signed_events_to_its_callback_and_the_teams_endpoints(
    seeded, settings
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    api = api_client()
    with receiver() as endpoint, receiver() as callback:
        services.webhook_endpoint_create(team=api.team, actor=api.owner, url=endpoint.url)
        created = api.post("/api/v1/generations", SMALL | {"callback_url": callback.url})
        assert created.status_code == 201
        job_id = created.json()["id"]
        assert execution.render_job_execute(job_id) == RenderJob.State.SUCCEEDED
        deliveries = WebhookDelivery.objects.filter(team=api.team).order_by("pk")
        events = [(d.event, d.endpoint_id is None) for d in deliveries]
        assert events == [
            ("generation.dreaming", False),
            ("generation.dreaming", True),
            ("generation.completed", False),
            ("generation.completed", True),
        ]
        for delivery in deliveries:
            assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
        secret = services.signing_secret(api.team).secret
        assert len(endpoint.received) == len(callback.received) == 2
        for hit in endpoint.received + callback.received:
            assert hit.path == "/hooks/dailies"
            assert verify_as_documented(secret, hit.headers["Dailies-Signature"], hit.body)
            tampered = hit.body.replace(b'"state"', b'"State"')
            assert not verify_as_documented(secret, hit.headers["Dailies-Signature"], tampered)
            assert not verify_as_documented(
                "whsec_other", hit.headers["Dailies-Signature"], hit.body
            )
        completed = json.loads(callback.received[-1].body)
        assert completed["type"] == "generation.completed"
        assert completed["data"]["id"] == job_id and completed["data"]["state"] == "completed"
        assert completed["data"] == api.get(f"/api/v1/generations/{job_id}").json()
        assert endpoint.received[-1].headers["Dailies-Webhook-Id"] == completed["id"]
    assert set(deliveries.values_list("state", flat=True)) == {"delivered"}


def test_a_failed_delivery_is_retried_with_backoff_then_given_up(seeded, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_DELAYS_S = [10, 60]
    api = api_client()
    with receiver(answers=[500, 503, 500]) as hook:
        services.webhook_endpoint_create(team=api.team, actor=api.owner, url=hook.url)
        job = RenderJob.objects.get(pk=api.post("/api/v1/generations", SMALL).json()["id"])
        lifecycle.render_job_cancel(job=job)
        delivery = WebhookDelivery.objects.get(team=api.team)
        assert delivery.event == "generation.failed"
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == 10
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == 60
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 3, 500)
        assert len(hook.received) == 3


def test_the_celery_task_retries_until_the_receiver_takes_it(seeded, settings) -> None:
    """The task as Celery runs it (eagerly here: a retry runs at once, not after its
    countdown): two refusals, then delivered on the third try."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_DELAYS_S = [5, 5, 5]
    api = api_client()
    with receiver(answers=[500, 502]) as hook:
        created = api.post("/api/v1/generations", SMALL | {"callback_url": hook.url})
        lifecycle.render_job_cancel(job=RenderJob.objects.get(pk=created.json()["id"]))
        delivery = WebhookDelivery.objects.get(team=api.team)
        webhook_deliver.apply(args=(delivery.pk,))
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
        assert len(hook.received) == 3


def test_a_receiver_that_does_not_listen_is_retried(seeded, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    api = api_client()
    with receiver() as hook:
        url = hook.url
    created = api.post("/api/v1/generations", SMALL | {"callback_url": url})
    lifecycle.render_job_cancel(job=RenderJob.objects.get(pk=created.json()["id"]))
    delivery = WebhookDelivery.objects.get(team=api.team)
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == 10
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.last_error.startswith("No answer")

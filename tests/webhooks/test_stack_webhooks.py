"""Webhooks on the real stack: a generation created through the API is rendered by a GPU-queue
worker, and its events are posted by a default-queue worker to a receiver on 127.0.0.1,
whose first refusal Celery retries after its countdown. Nothing is faked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.models import RenderJob
from tests.api.conftest import SMALL, api_client
from tests.stack import (
    StackProcesses,
    stack_env,
    stack_processes,
    wait_until,
)
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import verify_as_documented
from webhooks import services
from webhooks.models import WebhookDelivery

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def workers(
    redis_server: str, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("webhook-media"),
        OMP_NUM_THREADS="1",
        WEBHOOK_ALLOW_PRIVATE_TARGETS="1",
        WEBHOOK_RETRY_DELAYS_S="1,1,1",
    )
    with stack_processes(env) as procs:
        procs.start_worker()
        procs.start_worker(queue="default")
        yield procs


def test_a_rendered_generation_calls_back_signed_and_retried(seeded, workers, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.MEDIA_ROOT = Path(workers.env["MEDIA_ROOT"])
    api = api_client()
    with receiver(answers=[503]) as hook:
        created = api.post("/api/v1/generations", SMALL | {"callback_url": hook.url})
        assert created.status_code == 201, created.content
        job = RenderJob.objects.get(pk=created.json()["id"])

        def all_arrived() -> bool:
            types = [json.loads(r.body)["type"] for r in hook.received]
            return types.count("generation.dreaming") == 2 and "generation.completed" in types

        started = time.monotonic()
        assert wait_until(all_arrived, timeout_s=180, poll_s=0.2), workers.output[-3000:]
        elapsed = time.monotonic() - started
    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED
    secret = services.signing_secret(api.team).secret
    events = sorted(json.loads(r.body)["type"] for r in hook.received)
    # The first post (dreaming) was refused once and retried by Celery a second later.
    assert events == ["generation.completed", "generation.dreaming", "generation.dreaming"]
    for hit in hook.received:
        assert verify_as_documented(secret, hit.headers["Dailies-Signature"], hit.body)
    dreaming = WebhookDelivery.objects.get(team=api.team, event="generation.dreaming")
    assert (dreaming.state, dreaming.attempts) == ("delivered", 2)
    assert elapsed < 180

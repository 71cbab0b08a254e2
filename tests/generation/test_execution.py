"""Jobs run end to end through the tiny engine, a real channel layer and real storage."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import User
from billing import ledger
from generation import execution, lifecycle, progress
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from generation.uploads import frame_from_bytes
from tests.factories import submit_one, team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
State = RenderJob.State


@pytest.fixture
def fast_heartbeat(settings) -> None:
    settings.RENDER_HEARTBEAT_S = 0.05


def _drain(channel: str, *, until_state: str, timeout: float = 30) -> list[dict]:
    """Everything the channel received, up to the first message in ``until_state``.

    One event loop for the whole drain: channels_redis binds its connections to a loop.
    """

    async def receive_all() -> list[dict]:
        layer, messages = get_channel_layer(), []
        while True:
            message = await asyncio.wait_for(layer.receive(channel), timeout)
            messages.append(message)
            if message["state"] == until_state:
                return messages

    return async_to_sync(receive_all)()


def test_a_job_renders_to_an_mp4_of_the_requested_shape_and_settles(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(progress.job_group(job.pk), channel)

    assert execution.render_job_execute(job.pk) == State.SUCCEEDED

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED and job.cost_credits == job.estimate_credits
    assert set(job.timings) >= {"render_s", "deliver_s", "encode_s", "conformance_s"}
    # Measured from the frames; an untrained model's clip need not match the request.
    assert job.conformance["requested"] == "dolly in"
    assert job.conformance["detected"] and 0 <= job.conformance["score"] <= 1
    files = {a.kind: a for a in job.artifacts.all()}
    assert set(files) == {"video", "poster", "strip", "recipe"}
    frames, fps = decode_video(files["video"].file.path)
    assert frames.shape == (24, 540, 960, 3) and fps == 12  # 2 s at 12 fps, 540p 16:9
    assert Image.open(files["poster"].file.path).size == (960, 540)
    recipe = json.loads(files["recipe"].file.read())
    assert recipe["seed"] == 7 and recipe["delivered"] == {
        "width": 960, "height": 540, "frames": 24, "fps": 12,
    }  # fmt: skip
    account = ledger.balance(team)
    account.refresh_from_db()
    assert account.held == 0 and account.available == 30 - job.estimate_credits
    assert ledger.check_ledger() == []

    messages = _drain(channel, until_state=State.SUCCEEDED)
    steps = [int(re.search(r'data-step="(\d+)"', m["html"]).group(1)) for m in messages]
    running = [s for m, s in zip(messages, steps, strict=True) if m["state"] == State.RUNNING]
    assert running == sorted(running) and running[-1] > 0, steps
    assert 'hx-swap-oob="true"' in messages[-1]["html"] and "<video" in messages[-1]["html"]


def test_the_same_recipe_and_seed_reproduce_the_clip(small_request) -> None:
    team, owner = team_with_owner()
    hashes, clips = [], []
    for seed in (7, 7, 8):
        job = submit_one(team=team, user=owner, request=replace(small_request, seed=seed))
        execution.render_job_execute(job.pk)
        recipe = json.loads(job.artifacts.get(kind="recipe").file.read())
        hashes.append(recipe["native"]["frames_sha256"])
        clips.append(decode_video(job.artifacts.get(kind="video").file.path)[0].astype(float))
    assert hashes[0] == hashes[1] != hashes[2]  # bit for bit before encoding
    mse = ((clips[0] - clips[1]) ** 2).mean()
    assert mse == 0 or 10 * np.log10(255**2 / mse) > 45  # only codec noise after it


def test_redelivering_a_finished_job_does_nothing(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    execution.render_job_execute(job.pk)
    entries = team.ledger_entries.count()
    assert execution.render_job_execute(job.pk) == "skipped"
    assert team.ledger_entries.count() == entries
    assert job.artifacts.count() == 4


def test_an_engine_failure_fails_the_job_with_a_refund_and_no_files(
    small_request, settings, tmp_path
) -> None:
    settings.DAILIES_ENGINE = {**settings.DAILIES_ENGINE, "weights_dir": str(tmp_path / "none")}
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    assert execution.render_job_execute(job.pk) == State.FAILED
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert job.error_message == (
        "The model's weights are not installed on the render worker. "
        f"Your {job.estimate_credits} credits were refunded."
    )
    assert job.error_detail.startswith("WeightsNotInstalled: ")  # the path, for the admin
    assert str(tmp_path / "none") in job.error_detail.splitlines()[0]
    assert not job.artifacts.exists()
    assert ledger.balance(team).available == 30 and ledger.check_ledger() == []


def test_a_failed_render_tells_the_user_a_plain_sentence_and_admins_the_exception(
    small_request, caplog
) -> None:
    team, owner = team_with_owner()
    frame = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 40, 40)).save(frame, format="PNG")
    upload = frame_from_bytes(frame.getvalue())
    job = submit_one(
        team=team, user=owner, request=replace(small_request, mode="i2v", image=upload)
    )
    # The stored frame is damaged after submit: the worker cannot read it.
    Path(job.input_image.path).write_bytes(b"no longer a PNG")

    with caplog.at_level(logging.ERROR, logger="generation.execution"):
        assert execution.render_job_execute(job.pk) == State.FAILED

    job.refresh_from_db()
    sentence = (
        f"The render failed on the worker. Your {job.estimate_credits} credits were refunded."
    )
    assert job.error_message == sentence
    assert "UnidentifiedImageError" in job.error_detail  # for the admin
    assert any(r.exc_info and f"job {job.pk} failed" in r.getMessage() for r in caplog.records)
    client = Client()
    client.force_login(owner)
    for url in (reverse("job_detail", args=[job.pk]), reverse("job_status", args=[job.pk])):
        page = client.get(url).content.decode()
        assert sentence in page and "UnidentifiedImageError" not in page, url
    admin = Client()
    admin.force_login(User.objects.create_superuser(email="root@example.com", password="pw-1"))
    page = admin.get(reverse("admin:generation_renderjob_change", args=[job.pk])).content.decode()
    assert "UnidentifiedImageError" in page
    assert ledger.balance(team).held == 0 and ledger.check_ledger() == []


@pytest.mark.usefixtures("fast_heartbeat")
def test_cancelling_a_running_job_stops_it_and_refunds(small_request) -> None:
    team, owner = team_with_owner(plan_code="pro")
    # Long enough to still be sampling when the cancel lands.
    request = replace(small_request, quality="pro", duration_s=5, fps=24)
    job = submit_one(team=team, user=owner, request=request)
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(execution.render_job_execute(job.pk)))
    worker.start()
    deadline = time.monotonic() + 60
    while not RenderJob.objects.filter(
        pk=job.pk, state=State.RUNNING, progress_step__gte=1
    ).exists():
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.01)
    lifecycle.render_job_cancel(job=RenderJob.objects.get(pk=job.pk))
    worker.join(timeout=60)
    job.refresh_from_db()
    assert outcome == [State.CANCELLED] and job.state == State.CANCELLED
    assert job.progress_step < job.progress_total  # it stopped early
    assert ledger.balance(team).held == 0 and ledger.check_ledger() == []
    assert not job.artifacts.exists()


def test_the_reaper_reruns_a_dead_workers_job_once_then_fails_it_with_a_refund(
    small_request,
) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    long_ago = timezone.now() - timedelta(minutes=10)
    for attempt in (1, 2):
        assert lifecycle.render_job_claim(job_id=job.pk, worker=f"dead-{attempt}")
        RenderJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)  # worker died
        report = lifecycle.render_jobs_reap(stale_after_s=60)
        job.refresh_from_db()
        if attempt == 1:
            assert report.requeued == [job.pk] and job.state == State.QUEUED
            assert job.attempts == 1 and ledger.balance(team).held == job.estimate_credits
    assert report.failed == [job.pk] and job.state == State.FAILED
    assert "stopped responding" in job.error_message and "refunded" in job.error_message
    assert ledger.balance(team).held == 0 and ledger.balance(team).available == 30
    assert ledger.check_ledger() == []


def test_a_live_workers_job_is_left_alone_by_the_reaper(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    lifecycle.render_job_claim(job_id=job.pk, worker="alive")
    report = lifecycle.render_jobs_reap(stale_after_s=60)
    assert report.requeued == report.failed == []
    job.refresh_from_db()
    assert job.state == State.RUNNING


def test_a_job_whose_local_pool_process_died_is_reaped_at_the_next_pass(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    lifecycle.render_job_claim(job_id=job.pk, worker=f"{socket.gethostname()}:{gone.pid}")
    report = lifecycle.render_jobs_reap(stale_after_s=3600)  # the heartbeat is fresh
    assert report.requeued == [job.pk]
    job.refresh_from_db()
    assert job.state == State.QUEUED and ledger.check_ledger() == []
    # A live process of this machine, and any process of another, are left to the heartbeat.
    lifecycle.render_job_claim(job_id=job.pk, worker=f"{socket.gethostname()}:{os.getpid()}")
    assert lifecycle.render_jobs_reap(stale_after_s=3600).requeued == []
    RenderJob.objects.filter(pk=job.pk).update(worker=f"elsewhere:{gone.pid}")
    assert lifecycle.render_jobs_reap(stale_after_s=3600).requeued == []


def test_a_queued_job_the_broker_never_got_is_handed_over_again(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    RenderJob.objects.filter(pk=job.pk).update(queued_at=None)  # as after a failed enqueue
    report = lifecycle.render_jobs_reap(stale_after_s=60)
    assert report.reenqueued == [job.pk]
    job.refresh_from_db()
    assert job.queued_at is not None and job.state == State.QUEUED


def test_a_stack_start_reaps_orphans_at_once_and_resends_queued_jobs(small_request) -> None:
    team, owner = team_with_owner()
    orphan = submit_one(team=team, user=owner, request=small_request)
    lifecycle.render_job_claim(job_id=orphan.pk, worker="before-restart")  # heartbeat: now
    waiting = submit_one(team=team, user=owner, request=small_request)
    report = lifecycle.render_jobs_recover_at_start(sole_worker_pool=True)
    assert report.requeued == [orphan.pk]
    assert report.reenqueued == sorted([orphan.pk, waiting.pk])
    # With workers elsewhere (scale-out) a fresh heartbeat means the job is alive.
    lifecycle.render_job_claim(job_id=orphan.pk, worker="elsewhere")
    assert lifecycle.render_jobs_recover_at_start(sole_worker_pool=False).requeued == []

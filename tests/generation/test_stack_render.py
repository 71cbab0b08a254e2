"""Render jobs on the real stack: Redis, the ASGI server (daphne), Celery worker processes
and a websocket client, against the test database (SQLite file, or PostgreSQL in the
scale-out pass). Nothing is faked: the worker renders with the tiny engine preset."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.cookiejar import Cookie, CookieJar
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from billing.ledger import check_ledger
from billing.models import CreditAccount, Reservation
from generation import lifecycle, progress
from generation.engine.video_io import decode_video
from generation.models import Artifact, RenderJob
from generation.requests import RenderRequest
from generation.vocabulary import Quality
from storyboards import services as storyboards
from storyboards.models import Project
from tests.factories import submit_one, team_with_owner
from tests.stack import (
    JobWatcher,
    StackProcesses,
    open_job_socket,
    stack_env,
    stack_processes,
    wait_until,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

State = RenderJob.State
# Short enough that the kill tests wait seconds, not a minute; long against the worker's
# heartbeat below, so a live worker is never mistaken for a dead one.
HEARTBEAT_S = 0.5
STALE_AFTER_S = 3.0
RENDER_TIMEOUT_S = 120
# Pro quality (24 Heun steps, 48 model calls): over a second of sampling on the tiny preset
# with one thread, so progress arrives in several throttled messages and a worker can be
# killed mid-render. 60 frames at 540p keep the quiet encoding phase near a second: the web
# server once dropped a socket that heard nothing for 5 s (see the quiet-socket test).
REQUEST = RenderRequest(
    prompt="a red ball rolls across a tiled floor",
    quality=Quality.PRO,
    resolution=540,
    duration_s=5,
    fps=12,
    seed=7,
)
FRAMES = REQUEST.duration_s * REQUEST.fps
# 540p names the short side: 960×540 at 16:9.
DELIVERED = (540, 960)


@pytest.fixture(scope="module")
def stack(
    redis_server: str, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    """daphne once per module; workers are started by the tests that need them."""
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("stack-media"),
        RENDER_HEARTBEAT_S=str(HEARTBEAT_S),
        # One torch thread: on a shared 2-core machine two threads spin at OpenMP barriers
        # whenever another process holds a core, making a render 5-10x slower.
        OMP_NUM_THREADS="1",
    )
    with stack_processes(env) as procs:
        procs.start_web()
        yield procs


@pytest.fixture
def media(stack: StackProcesses, settings) -> Path:
    # Artifact paths resolve against this process's MEDIA_ROOT: make it the workers'.
    settings.MEDIA_ROOT = Path(stack.env["MEDIA_ROOT"])
    return settings.MEDIA_ROOT


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _balance(team) -> tuple[int, int, int]:
    account = CreditAccount.objects.get(team=team)
    return account.monthly, account.topup, account.held


def _wait_for_state(job: RenderJob, states: set[str], stack: StackProcesses) -> RenderJob:
    def reached() -> bool:
        job.refresh_from_db()
        return job.state in states

    assert wait_until(reached, RENDER_TIMEOUT_S, poll_s=0.2), (
        f"job {job.pk} stuck in {job.state}\n{stack.output[-4000:]}"
    )
    return job


def _submit_over_http(stack: StackProcesses, cookie: str, project: Project) -> int:
    """POST the shot composer to the web server like a browser: GET for the CSRF token,
    POST with Render, follow the redirect to the project's timeline."""
    jar = CookieJar()
    jar.set_cookie(_cookie(settings.SESSION_COOKIE_NAME, cookie))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    base = f"http://127.0.0.1:{stack.port}"
    composer = f"{base}/projects/{project.pk}/shots/new/"
    try:
        with opener.open(composer, timeout=30) as resp:
            page = resp.read().decode()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET the composer: {exc}\n{stack.output[-4000:]}") from exc
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:2000]
    key = uuid.uuid4().hex
    form = {
        "csrfmiddlewaretoken": token[1],
        "prompt": REQUEST.prompt,
        "mode": "t2v",
        "quality": REQUEST.quality,
        "resolution": REQUEST.resolution,
        "duration_s": REQUEST.duration_s,
        "fps": REQUEST.fps,
        "aspect": REQUEST.aspect,
        "seed_mode": "fixed",
        "seed": REQUEST.seed,
        "variants": 1,
        "focal_mm": 35,
        "aperture": 4,
        "shutter_deg": 180,
        "interpolation": "smooth",
        "action": "render",
        "idempotency_key": key,
    }
    data = urllib.parse.urlencode(form).encode()
    with opener.open(composer, data=data, timeout=30) as resp:
        landed = resp.geturl()
    assert landed.endswith(f"/projects/{project.pk}/"), f"the composer did not render: {landed}"
    return RenderJob.objects.get(batch__idempotency_key=key).pk


def _cookie(name: str, value: str) -> Cookie:
    return Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False,
        None, False, None, None, {},
    )  # fmt: skip


def _wait_until_rendering(job: RenderJob, stack: StackProcesses) -> None:
    def rendering() -> bool:
        job.refresh_from_db()
        return (job.state == State.RUNNING and job.progress_step >= 1) or (
            job.state == State.ENCODING
        )

    assert wait_until(rendering, RENDER_TIMEOUT_S, poll_s=0.02), (
        f"job {job.pk} never started rendering ({job.state})\n{stack.output[-4000:]}"
    )


def _kill_mid_render(stack: StackProcesses, job: RenderJob) -> None:
    """Wait until the worker is visibly rendering the job, then SIGKILL its process group."""
    worker = stack.worker()
    _wait_until_rendering(job, stack)
    stack.kill(worker)
    job.refresh_from_db()
    assert job.state in (State.RUNNING, State.ENCODING), "killed too late: the job finished"


def _reap_after_threshold(job: RenderJob) -> lifecycle.ReapReport:
    """The worker ran on this machine, so the reaper's next pass finds its process gone
    without waiting for the heartbeat to go stale."""
    reports: list[lifecycle.ReapReport] = []

    def reaped() -> bool:
        reports.append(lifecycle.render_jobs_reap(stale_after_s=STALE_AFTER_S))
        return job.pk in reports[-1].requeued + reports[-1].failed

    assert wait_until(reaped, 10), "the dead worker's job was not reaped"
    return reports[-1]


def test_render_streams_progress_and_delivers_the_requested_mp4(seeded, stack, media) -> None:
    team, owner = team_with_owner(plan_code="pro")
    before = _balance(team)
    stack.worker()
    cookie = _session_cookie(owner)

    project = storyboards.project_create(team=team, user=owner, name="Over HTTP")
    job_id = _submit_over_http(stack, cookie, project)
    job = RenderJob.objects.get(pk=job_id)
    # Opened once the worker renders, as a user opening the job page would: a socket left
    # idle for 5 s was once dropped by the web server (see the quiet-socket test), and a
    # cold worker spends seconds building its engine before the first step.
    _wait_until_rendering(job, stack)
    with open_job_socket(stack.port, job_id, cookie) as ws:
        watcher = JobWatcher(ws)
        assert watcher.wait(RENDER_TIMEOUT_S), f"no final state\n{stack.output[-4000:]}"

    updates = watcher.updates
    assert not watcher.closed_early, f"the server dropped the socket after {updates}"
    assert updates and all(u.job_id == job_id for u in updates)
    assert updates[-1].state == State.SUCCEEDED, [u.state for u in updates]
    running = [u.step for u in updates if u.state == State.RUNNING and u.step > 0]
    assert len(running) >= 2, f"too few progress messages: {updates}"
    assert running == sorted(set(running)), f"progress went backwards or repeated: {running}"
    order = [State.QUEUED, State.RUNNING, State.ENCODING, State.SUCCEEDED]
    phases = [order.index(u.state) for u in updates]
    assert phases == sorted(phases), [u.state for u in updates]
    total = updates[-1].total
    assert total > 0 and {u.total for u in updates if u.step} == {total}
    assert updates[-1].step == total

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED and job.attempts == 1
    video = job.artifacts.get(kind=Artifact.Kind.VIDEO)
    frames, fps = decode_video(media / video.file.name)
    assert frames.shape == (FRAMES, *DELIVERED, 3)
    assert fps == pytest.approx(REQUEST.fps)
    assert frames.shape[2] / frames.shape[1] == pytest.approx(16 / 9, abs=0.01)
    assert set(job.artifacts.values_list("kind", flat=True)) == set(Artifact.Kind.values)

    assert job.reservation.state == Reservation.State.SETTLED
    assert job.cost_credits == job.estimate_credits
    monthly, topup, held = _balance(team)
    assert (monthly, topup, held) == (before[0] - job.cost_credits, before[1], 0)
    assert check_ledger() == []

    # The same socket for another team's user is refused before it joins the group.
    _, stranger = team_with_owner(plan_code="pro", name="Other")
    with (
        pytest.raises(InvalidStatus) as refused,
        open_job_socket(stack.port, job_id, _session_cookie(stranger)),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_killed_worker_job_is_rerun_to_success_by_a_fresh_worker(seeded, stack, media) -> None:
    team, owner = team_with_owner(plan_code="pro")
    before = _balance(team)
    job = submit_one(team=team, user=owner, request=REQUEST)

    _kill_mid_render(stack, job)
    report = _reap_after_threshold(job)

    assert report.requeued == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.attempts, job.progress_step) == (State.QUEUED, 1, 0)
    stack.start_worker()
    job = _wait_for_state(job, {State.SUCCEEDED, State.FAILED}, stack)

    assert job.state == State.SUCCEEDED, job.error_message
    assert job.attempts == 2
    frames, _ = decode_video(media / job.artifacts.get(kind=Artifact.Kind.VIDEO).file.name)
    assert frames.shape == (FRAMES, *DELIVERED, 3)
    # Charged once for the clip, not once per attempt.
    assert _balance(team) == (before[0] - job.estimate_credits, before[1], 0)
    assert job.reservation.state == Reservation.State.SETTLED
    assert check_ledger() == []
    assert not RenderJob.objects.filter(state__in=[State.RUNNING, State.ENCODING]).exists()


def test_killed_worker_job_out_of_attempts_fails_with_full_refund(seeded, stack, settings) -> None:
    settings.RENDER_MAX_ATTEMPTS = 1  # read by the reaper, which runs in this process
    team, owner = team_with_owner(plan_code="pro")
    before = _balance(team)
    job = submit_one(team=team, user=owner, request=REQUEST)
    assert _balance(team)[2] == job.estimate_credits  # held while it renders

    _kill_mid_render(stack, job)
    report = _reap_after_threshold(job)

    assert report.failed == [job.pk]
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert f"Your {job.estimate_credits} credits were refunded" in job.error_message
    assert job.reservation.state == Reservation.State.RELEASED
    assert _balance(team) == before
    assert not job.artifacts.exists()
    assert check_ledger() == []
    assert not RenderJob.objects.filter(state__in=[State.RUNNING, State.ENCODING]).exists()


def test_quiet_job_socket_still_relays_after_six_idle_seconds(seeded, stack) -> None:
    # A queued job waiting for a busy worker, or a long encode, is this quiet.
    team, owner = team_with_owner(plan_code="pro")
    job = submit_one(team=team, user=owner, request=REQUEST)
    lifecycle.render_job_cancel(job=job)
    job = _wait_for_state(job, {State.CANCELLED, State.SUCCEEDED, State.FAILED}, stack)
    with open_job_socket(stack.port, job.pk, _session_cookie(owner)) as ws:
        time.sleep(6)
        progress.push(job)
        try:
            message = ws.recv(timeout=5)
        except (ConnectionClosed, TimeoutError) as exc:
            pytest.fail(f"no update after an idle spell: {exc!r}")
    assert f'id="job-{job.pk}-status"' in str(message)

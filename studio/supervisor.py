"""Process supervision for ``manage.py runstack``: start, relay output, restart what dies,
stop in order.

Kept free of Django so it can be read and tested on its own. The rules it enforces
come from what a generic Procfile runner gets wrong (docs/runtime.md): every child runs in its own process
group with a parent-death signal, SIGINT/SIGTERM/SIGHUP all mean "stop in order", a
group is stopped by signalling its leader first and killing the whole group only after
a grace period, and no process group outlives the supervisor. Once the stack is up, a
child that dies is started again with a backoff (logged), while the others keep serving.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_S = 0.1
# A child that dies once the stack is up is started again after 1, 2, 4, … s (at most 30);
# one that stayed up this long starts over at 1 s; after this many quick deaths in a row
# the stack gives up and stops, naming it.
RESTART_BACKOFF_S = (1.0, 30.0)
STABLE_AFTER_S = 60.0
MAX_QUICK_RESTARTS = 5
# honcho's palette: one colour per process name, cycled.
COLOURS = ("36", "33", "32", "35", "34", "31")


class StartupError(Exception):
    """The stack could not come up; the message says why in words a user can act on."""


class StopRequested(Exception):
    """A stop signal arrived while the stack was still starting."""


class ChildDied(Exception):
    """A child exited while it was supposed to be running."""

    def __init__(self, child: Child, returncode: int) -> None:
        self.child = child
        self.returncode = returncode
        super().__init__(f"{child.name} exited unexpectedly ({describe_returncode(returncode)})")


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _parent_death_signal(parent_pid: int) -> Callable[[], None]:
    """Build a ``preexec_fn`` that asks Linux to SIGTERM the child when the supervisor dies.

    The libc handle is resolved here, in the parent, so the forked child only makes one
    foreign call. PR_SET_PDEATHSIG fires when the *thread* that forked the child exits,
    which is why children are only ever started from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # The supervisor may have died between fork and prctl: then nobody would ever
        # signal this child, so it must not go on to exec.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


@dataclass(eq=False)  # identity: two children are never "equal"
class Child:
    """One supervised process: the leader of its own process group."""

    name: str
    popen: subprocess.Popen[str]
    reader: threading.Thread
    grace_s: float
    argv: Sequence[str] = ()
    env: dict[str, str] | None = None
    started_at: float = field(default_factory=time.monotonic)
    #: Restarts in a row after a short life (see ``STABLE_AFTER_S``).
    quick_restarts: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_status(self) -> int | None:
        """The return code if the leader has exited, without reaping it.

        Leaving the zombie in place keeps its pid (and so its process-group id) reserved
        until ``killpg`` has swept the group: a reaped pid could be reused by a stranger.
        """
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.wait()
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return info.si_status
        return -info.si_status

    def signal_leader(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def reap(self) -> int:
        returncode = self.popen.wait()
        # The pipe closes once every process holding it is gone; the reader then ends.
        self.reader.join(timeout=2)
        return returncode


@dataclass
class Supervisor:
    """Starts children, relays their output line by line and stops them in tiers."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    colour: bool = False
    children: list[Child] = field(default_factory=list)
    #: Every child ever started, including those already stopped.
    started: list[Child] = field(default_factory=list)
    signals_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _colours: Iterator[str] = field(default_factory=lambda: itertools.cycle(COLOURS))
    _width: int = 6
    _stream_lost: bool = False

    # --- output -------------------------------------------------------------------------

    def _prefix(self, name: str, colour: str) -> str:
        label = f"{name:<{self._width}} |"
        return f"\033[{colour}m{label}\033[0m " if self.colour else f"{label} "

    def write(self, name: str, text: str, colour: str = "1") -> None:
        prefix = self._prefix(name, colour)
        with self._lock:
            if self._stream_lost:
                return
            try:
                for line in text.splitlines() or [""]:
                    self.stream.write(f"{prefix}{line}\n")
                self.stream.flush()
            except (OSError, ValueError):
                # The terminal went away (SIGHUP): keep draining the children's pipes so
                # none of them blocks on a full pipe during its shutdown, and stop writing.
                self._stream_lost = True

    def say(self, text: str) -> None:
        self.write("system", text)

    def _relay(self, name: str, colour: str, pipe: TextIO) -> None:
        for line in pipe:
            self.write(name, line.rstrip("\n"), colour)
        pipe.close()

    # --- signals ------------------------------------------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self.signals_received > 0

    @property
    def force(self) -> bool:
        """A second stop signal: skip the grace period."""
        return self.signals_received > 1

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only counters here: locks or I/O in a signal handler can deadlock against the
        # very code it interrupted; the main loop polls these counters.
        self.signals_received += 1

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # --- children -----------------------------------------------------------------------

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        grace_s: float = 10.0,
    ) -> Child:
        """Start ``argv`` as the leader of a new session, its output relayed as ``name |``."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("children must be started from the main thread (PDEATHSIG)")
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
            errors="replace",
            env=env,
            # A session of its own: the terminal's Ctrl-C and hang-up reach only the
            # supervisor, which then stops everyone in order.
            start_new_session=True,
            preexec_fn=_parent_death_signal(os.getpid()),
        )
        self._width = max(self._width, len(name))
        reader = threading.Thread(
            target=self._relay, args=(name, next(self._colours), popen.stdout), daemon=True
        )
        reader.start()
        child = Child(name=name, popen=popen, reader=reader, grace_s=grace_s, argv=argv, env=env)
        self.children.append(child)
        self.started.append(child)
        return child

    def check_children(self) -> None:
        """Raise :class:`ChildDied` for the first child that is no longer running."""
        for child in self.children:
            returncode = child.exit_status()
            if returncode is not None:
                raise ChildDied(child, returncode)

    def wait_for(self, ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        """Poll ``ready`` until it holds, a child dies, a stop signal arrives or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.stop_requested:
                raise StopRequested
            self.check_children()
            if ready():
                return
            if time.monotonic() > deadline:
                raise StartupError(f"{what} did not come up within {timeout_s:.0f} s")
            time.sleep(POLL_S)

    def run_until_stopped(
        self,
        *,
        restart: Sequence[str] = (),
        on_restart: Callable[[Child], None] | None = None,
    ) -> None:
        """Block until a stop signal (returns) or a child's death (raises ChildDied).

        A child named in ``restart`` is started again instead, after a backoff that
        doubles while it keeps dying quickly; the others keep running meanwhile. Only
        ``MAX_QUICK_RESTARTS`` quick deaths in a row raise :class:`ChildDied`.
        ``on_restart(child)`` then runs for the new child (what it raises is said, not
        raised: the stack keeps running).
        """
        pending: list[tuple[float, Child]] = []  # (when, the dead child to start again)
        while not self.stop_requested:
            for child in list(self.children):
                returncode = child.exit_status()
                if returncode is None:
                    continue
                if child.name not in restart:
                    raise ChildDied(child, returncode)
                pending.append(self._schedule_restart(child, returncode))
            now = time.monotonic()
            for due in [p for p in pending if p[0] <= now]:
                pending.remove(due)
                if not self.stop_requested:
                    child = self._restart(due[1])
                    if on_restart is not None:
                        try:
                            on_restart(child)
                        except Exception as exc:  # said, not raised: see docstring
                            self.say(f"after restarting {child.name}: {exc!r}")
            time.sleep(POLL_S)

    def _schedule_restart(self, child: Child, returncode: int) -> tuple[float, Child]:
        lived = time.monotonic() - child.started_at
        quick = 0 if lived >= STABLE_AFTER_S else child.quick_restarts + 1
        if quick > MAX_QUICK_RESTARTS:
            raise ChildDied(child, returncode)
        low, high = RESTART_BACKOFF_S
        delay = min(high, low * 2 ** max(0, quick - 1))
        self.say(
            f"{child.name} exited unexpectedly ({describe_returncode(returncode)}) after "
            f"{lived:.0f} s: restarting it in {delay:.0f} s"
            + (f" (quick restart {quick} of {MAX_QUICK_RESTARTS})" if quick else "")
        )
        # Sweep what the dead leader left in its group (a Celery pool, say) and reap it.
        child.kill_group()
        child.reap()
        self.children.remove(child)
        child.quick_restarts = quick
        return time.monotonic() + delay, child

    def _restart(self, dead: Child) -> Child:
        child = self.start(dead.name, dead.argv, env=dead.env, grace_s=dead.grace_s)
        child.quick_restarts = dead.quick_restarts
        self.say(f"{child.name} restarted (pid {child.pid})")
        return child

    def stop(self, children: Sequence[Child]) -> None:
        """Stop one tier: SIGTERM each leader, wait out the grace period, SIGKILL the groups.

        Only the leader gets SIGTERM: Celery's prefork children reset SIGTERM to the
        default action, so signalling the whole group would kill the running task that
        the leader's warm shutdown is waiting for.
        """
        live = [child for child in children if child.exit_status() is None]
        for child in live:
            self.say(f"stopping {child.name} (pid {child.pid})")
            child.signal_leader(signal.SIGTERM)
        started = time.monotonic()
        waiting = list(live)
        while waiting and not self.force:
            time.sleep(POLL_S)
            elapsed = time.monotonic() - started
            waiting = [c for c in waiting if c.exit_status() is None and elapsed < c.grace_s]
        for child in children:
            if child.exit_status() is None:
                self.say(f"{child.name} still running after its grace period: killing it")
            # Even a leader that exited cleanly may have left processes in its group.
            child.kill_group()
            returncode = child.reap()
            if child in live:
                self.say(f"{child.name} stopped ({describe_returncode(returncode)})")
        self.children = [c for c in self.children if c not in children]

    def stop_all(self, *, last: Sequence[str] = ()) -> None:
        """Stop every child, the ones named in ``last`` after all the others."""
        first = [c for c in self.children if c.name not in last]
        self.stop(first)
        for name in last:
            self.stop([c for c in self.children if c.name == name])

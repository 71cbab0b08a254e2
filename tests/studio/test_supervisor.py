"""The supervisor restarts a child that dies, with a backoff it logs, while the others keep
running; a child that keeps dying quickly stops the stack, named."""

from __future__ import annotations

import io
import signal
import threading
import time

import pytest

from studio import supervisor
from studio.supervisor import ChildDied, Supervisor


@pytest.fixture
def quick(monkeypatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_BACKOFF_S", (0.05, 0.4))
    monkeypatch.setattr(supervisor, "MAX_QUICK_RESTARTS", 3)


def _stop_after(sup: Supervisor, seconds: float) -> threading.Timer:
    def stop() -> None:
        sup.signals_received += 1

    timer = threading.Timer(seconds, stop)
    timer.start()
    return timer


def test_a_killed_child_comes_back_and_the_others_are_untouched(quick) -> None:
    out = io.StringIO()
    sup = Supervisor(stream=out)
    steady = sup.start("web", ["sleep", "60"], grace_s=1)
    worker = sup.start("worker", ["sleep", "60"], grace_s=1)
    killer = threading.Timer(0.3, lambda: worker.signal_leader(signal.SIGKILL))
    killer.start()
    _stop_after(sup, 1.5)
    try:
        sup.run_until_stopped(restart=["web", "worker"])
        names = {c.name: c.pid for c in sup.children}
        assert names["web"] == steady.pid  # never restarted
        assert names["worker"] != worker.pid
        log = out.getvalue()
        assert "worker exited unexpectedly (killed by SIGKILL)" in log
        assert "restarting it in 0 s (quick restart 1 of 3)" in log
        assert "worker restarted (pid" in log and "web exited" not in log
    finally:
        sup.stop_all()


def test_a_child_that_keeps_dying_backs_off_then_stops_the_stack(quick) -> None:
    out = io.StringIO()
    sup = Supervisor(stream=out)
    sup.start("beat", ["sh", "-c", "exit 3"], grace_s=1)
    started = time.monotonic()
    try:
        with pytest.raises(ChildDied, match="beat exited unexpectedly \\(exit code 3\\)"):
            sup.run_until_stopped(restart=["beat"])
    finally:
        sup.stop_all()
    delays = [
        line.split("restarting it in ")[1].split(" s")[0]
        for line in out.getvalue().splitlines()
        if "restarting it in" in line
    ]
    assert len(delays) == 3
    # 0.05, 0.1, 0.2 s: doubling, so a crash loop costs little and logs little.
    assert 0.3 < time.monotonic() - started < 5


def test_a_child_not_named_for_restart_still_stops_the_stack() -> None:
    sup = Supervisor(stream=io.StringIO())
    sup.start("oneshot", ["sh", "-c", "exit 2"], grace_s=1)
    try:
        with pytest.raises(ChildDied, match="exit code 2"):
            sup.run_until_stopped()
    finally:
        sup.stop_all()

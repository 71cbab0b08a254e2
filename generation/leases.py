"""The reaper of work a worker holds while it runs: a render, a training, an export.

A worker claims a row by writing its name ("host:pid", as ``execution.worker_name`` writes
it) and, where the work beats, a heartbeat. When the heartbeat stops, or the process on this
machine is gone, nothing else would ever finish the row: the reaper runs it again where that
is allowed, else fails it. What running again and failing mean (the refund, the message, the
files a dead worker left) is each kind's own, given in its ``Lease``; which rows lapsed, the
row lock, the order and the report are decided here once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

# A worker pool that is the only one (the embedded stack's) has just started: every row it
# finds running is an orphan of the last shutdown, whatever its heartbeat says.
ORPHANED_AFTER_S = 1e-6


class Leased(Protocol):
    @property
    def pk(self) -> Any: ...
    @property
    def state(self) -> str: ...
    @property
    def worker(self) -> str: ...


class Retried(Leased, Protocol):
    """A row that beats and may run again: a render job, a character adapter."""

    @property
    def heartbeat_at(self) -> datetime | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def cancel_requested(self) -> bool: ...


R = TypeVar("R", bound=Leased)


def last_beat(row: Retried) -> datetime | None:
    return row.heartbeat_at


def retries_left(row: Retried) -> bool:
    """Whether a lapsed row may run again: once per attempt allowed, and never when its
    owner asked to cancel it."""
    return row.attempts < settings.RENDER_MAX_ATTEMPTS and not row.cancel_requested


@dataclass(frozen=True)
class Lease(Generic[R]):
    """One kind of leased work, as its reaper sees it.

    Args:
        objects: the model's manager; rows carry ``state`` and ``worker``, and
            ``heartbeat_at`` where ``heartbeat`` is given, ``queued_at`` where ``enqueue`` is.
        running: the states in which a worker holds the row.
        lock: the row under ``select_for_update`` (DoesNotExist when it was deleted).
        requeue: moves a lapsed row back to its queued state; the reaper then hands it to the
            broker on commit. None: the work never runs again and is failed at once.
        may_requeue: whether a lapsed row may run again (``retries_left``); else it fails.
        fail: ends a lapsed row for good: its final state, the refund, the user's sentence.
        log: the kind's logger; ``said`` is its line, with ``%(requeued)s``, ``%(failed)s``
            and ``%(reenqueued)s`` standing for the report.
        heartbeat: when the row last reported; None for work that does not beat, which
            lapses only when its process is gone.
        abandon: clears what the dead worker left (half-written files) first.
        queued: the state of rows waiting for a worker; ``enqueue`` hands one to the broker
            and says whether it took it.
    """

    objects: models.Manager[Any]
    running: tuple[str, ...]
    lock: Callable[[int], R]
    fail: Callable[[R], None]
    log: logging.Logger
    said: str
    requeue: Callable[[R], object] | None = None
    may_requeue: Callable[[R], bool] | None = None
    heartbeat: Callable[[R], datetime | None] | None = None
    abandon: Callable[[R], None] | None = None
    queued: str = ""
    enqueue: Callable[[R], bool] | None = None


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)


def worker_gone(worker: str) -> bool:
    """Whether ``worker`` ("host:pid") is a process of this machine that no longer runs.
    Another machine's worker is never judged here."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:  # a zombie (killed, not yet reaped by its pool's parent) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def reap(
    lease: Lease[R],
    *,
    now: datetime | None = None,
    stale_after_s: float | None = None,
) -> ReapReport:
    """Find the running rows whose heartbeat is older than ``stale_after_s``, or whose worker
    process on this machine is gone; run each again if its kind allows, else fail it. Then
    hand over again the queued rows the broker may never have received. Safe to run from any
    number of processes at once: each row is decided under its row lock."""
    if lease.heartbeat is not None and stale_after_s is None:
        raise ValueError("work that beats is reaped after a stale_after_s")
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_after_s or 0)
    report = ReapReport()
    running = lease.objects.filter(state__in=lease.running)
    stale: set[int] = set()
    if lease.heartbeat is not None:
        stale = set(running.filter(heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    # A row whose pool process on this machine is gone (killed, out of memory) need not wait
    # for its heartbeat to go stale: it is reaped at this pass.
    local = running.filter(worker__startswith=f"{socket.gethostname()}:")
    dead = {pk for pk, worker in local.values_list("pk", "worker") if worker_gone(worker)}
    for pk in sorted(stale | dead):
        with transaction.atomic():
            try:
                row = lease.lock(pk)
            except ObjectDoesNotExist:
                continue  # deleted meanwhile (a character goes with its adapters)
            if row.state not in lease.running:
                continue  # another reaper got it
            if not _lapsed(lease, row, cutoff) and not worker_gone(row.worker):
                continue  # it reported meanwhile
            if lease.abandon is not None:
                lease.abandon(row)
            if _may_requeue(lease, row):
                _requeue(lease, row)
                report.requeued.append(row.pk)
            else:
                lease.fail(row)
                report.failed.append(row.pk)
    if lease.enqueue is not None:
        # Queued rows the broker may never have received (an outage when they were sent, or
        # an embedded Redis restart): hand them over again. A second message is harmless.
        waiting = lease.objects.filter(state=lease.queued).filter(
            Q(queued_at__isnull=True)
            | Q(queued_at__lt=now - timedelta(seconds=settings.RENDER_REQUEUE_AFTER_S))
        )
        report.reenqueued = _resend(lease, waiting)
    if report.requeued or report.failed or report.reenqueued:
        lease.log.warning(lease.said, asdict(report))
    return report


def _lapsed(lease: Lease[R], row: R, cutoff: datetime) -> bool:
    """Whether the row's heartbeat is older than ``cutoff``; work that does not beat never
    lapses by time, only when its process is gone."""
    if lease.heartbeat is None:
        return False
    beat = lease.heartbeat(row)
    return beat is None or beat < cutoff


def _may_requeue(lease: Lease[R], row: R) -> bool:
    return lease.requeue is not None and (lease.may_requeue is None or lease.may_requeue(row))


def _requeue(lease: Lease[R], row: R) -> None:
    assert lease.requeue is not None
    lease.requeue(row)
    if lease.enqueue is not None:
        transaction.on_commit(functools.partial(lease.enqueue, row))


def resend_queued(lease: Lease[R], *, exclude: Sequence[int] = ()) -> list[int]:
    """Hand every queued row but ``exclude`` to the broker again: after an embedded Redis
    restart the broker is empty. Harmless when the messages are still there: a row is claimed
    once, and a second delivery of a row that is no longer queued does nothing."""
    waiting = lease.objects.filter(state=lease.queued).exclude(pk__in=exclude)
    return _resend(lease, waiting)


def _resend(lease: Lease[R], rows: Iterable[R]) -> list[int]:
    assert lease.enqueue is not None
    return [row.pk for row in rows if lease.enqueue(row)]

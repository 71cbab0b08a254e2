"""A character adapter's training after it is queued: claimed by a GPU worker, ready,
failed, cancelled, or reaped when its worker died. As with render jobs, every transition
goes through the state machine under a row lock, and every exit settles or releases the
adapter's credits.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing import ledger
from characters import progress, queue
from characters.models import Character, CharacterAdapter
from generation import leases
from generation.leases import ReapReport

log = logging.getLogger(__name__)
State = CharacterAdapter.State


def _lock(adapter_id: int) -> CharacterAdapter:
    return (
        CharacterAdapter.objects.select_for_update().select_related("character").get(pk=adapter_id)
    )


def _transition(adapter: CharacterAdapter, new_state: str, **fields: object) -> CharacterAdapter:
    adapter.check_transition(new_state)
    adapter.state = new_state
    for name, value in fields.items():
        setattr(adapter, name, value)
    adapter.save()
    transaction.on_commit(lambda: progress.push(adapter))
    return adapter


def _close(adapter: CharacterAdapter, state: str, message: str) -> CharacterAdapter:
    ledger.release(
        reservation=adapter.reservation, memo=f"Refund: character adapter {adapter.pk} {state}"
    )
    return _transition(adapter, state, error_message=message[:500], finished_at=timezone.now())


@transaction.atomic
def adapter_claim(*, adapter_id: int, worker: str) -> CharacterAdapter | None:
    """Mark a queued adapter training for ``worker``; None when it is not queued."""
    adapter = _lock(adapter_id)
    if adapter.state != State.QUEUED:
        return None
    if adapter.cancel_requested:
        _close(adapter, State.CANCELLED, "Cancelled before it started. Your credits were refunded.")
        return None
    now = timezone.now()
    return _transition(
        adapter,
        State.TRAINING,
        worker=worker,
        attempts=adapter.attempts + 1,
        started_at=adapter.started_at or now,
        heartbeat_at=now,
        progress_step=0,
        loss=None,
    )


@transaction.atomic
def adapter_fail(*, adapter_id: int, message: str, detail: str = "") -> CharacterAdapter | None:
    adapter = _lock(adapter_id)
    if not adapter.is_active:
        return None
    credits = adapter.reservation.credits
    adapter.error_detail = detail
    return _close(adapter, State.FAILED, f"{message} Your {credits} credits were refunded.")


@transaction.atomic
def adapter_mark_cancelled(*, adapter_id: int) -> CharacterAdapter | None:
    """The worker stopped at a step boundary after a cancel request."""
    adapter = _lock(adapter_id)
    if not adapter.is_active:
        return None
    return _close(adapter, State.CANCELLED, "Cancelled. Your credits were refunded.")


@transaction.atomic
def adapter_cancel(*, adapter: CharacterAdapter) -> CharacterAdapter:
    """Cancel from the page or the API: a queued training stops now, a running one at its
    next step; either way the whole reservation is refunded."""
    adapter = _lock(adapter.pk)
    if not adapter.is_active:
        return adapter
    if adapter.state == State.QUEUED:
        return _close(adapter, State.CANCELLED, "Cancelled. Your credits were refunded.")
    adapter.cancel_requested = True
    adapter.save(update_fields=["cancel_requested"])
    transaction.on_commit(lambda: progress.push(adapter))
    return adapter


@transaction.atomic
def adapter_succeed(
    *, adapter_id: int, path: Path, sha256: str, record: dict, seconds: float
) -> CharacterAdapter | None:
    """Settle, record the folder and make this version the character's current adapter.
    The folder is already complete (renamed into place); an adapter that is no longer
    training (cancelled or reaped meanwhile) is not made ready."""
    adapter = _lock(adapter_id)
    if adapter.state != State.TRAINING:
        return None
    ledger.settle(reservation=adapter.reservation, credits=adapter.estimate_credits)
    done = _transition(
        adapter,
        State.READY,
        path=str(path),
        sha256=sha256,
        record=record,
        backend=str(record.get("backend", "")),
        seconds=round(seconds, 2),
        cost_credits=adapter.estimate_credits,
        progress_step=adapter.progress_total or adapter.progress_step,
        eta_s=0,
        finished_at=timezone.now(),
    )
    Character.objects.filter(pk=adapter.character_id).update(current_adapter=done)
    return done


# --- crash safety -----------------------------------------------------------------------------


def discard_partial(adapter: CharacterAdapter) -> None:
    """Remove what a dead worker left of this version's folders: nothing ready uses them."""
    final = adapter_folder(adapter)
    for stale in final.parent.glob(f"{final.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def character_folder(character: Character) -> Path:
    """The folder of a character's adapter versions (and, on local storage, references)."""
    return (
        Path(settings.MEDIA_ROOT) / "characters" / f"team-{character.team_id}" / str(character.pk)
    )


def remove_character_files(folder: Path, references: Sequence[str]) -> None:
    """Remove a deleted character's reference images from storage and its folder from disk."""
    for name in references:
        try:
            default_storage.delete(name)
        except OSError:
            log.exception("could not delete reference %s", name)
    shutil.rmtree(folder, ignore_errors=True)


def adapter_folder(adapter: CharacterAdapter) -> Path:
    """Where a version's folder lives once trained, under the media root."""
    return character_folder(adapter.character) / f"adapter-v{adapter.version}"


def _requeue_lapsed(adapter: CharacterAdapter) -> None:
    _transition(adapter, State.QUEUED, worker="", progress_step=0, eta_s=None)


def _fail_lapsed(adapter: CharacterAdapter) -> None:
    said = "The worker training this character stopped responding."
    _close(
        adapter, State.FAILED, f"{said} Your {adapter.reservation.credits} credits were refunded."
    )


ADAPTERS = leases.Lease(
    objects=CharacterAdapter.objects,
    running=(State.TRAINING,),
    lock=_lock,
    fail=_fail_lapsed,
    log=log,
    said="character reaper: requeued %(requeued)s, failed %(failed)s, re-enqueued %(reenqueued)s",
    requeue=_requeue_lapsed,
    may_requeue=leases.retries_left,
    heartbeat=leases.last_beat,
    # Its half-written folders go: none was ever ready, so no render used them.
    abandon=discard_partial,
    queued=State.QUEUED,
    enqueue=queue.adapter_enqueue,
)


def adapters_reap(*, now: datetime | None = None, stale_after_s: float | None = None) -> ReapReport:
    """Training adapters whose worker stopped reporting, or whose process on this machine is
    gone: trained again once, else failed and refunded. Their half-written folders are
    removed; none was ever ready, so no render used them."""
    return leases.reap(
        ADAPTERS, now=now, stale_after_s=stale_after_s or settings.RENDER_STALE_AFTER_S
    )


def adapters_requeue_waiting() -> list[int]:
    """Send every queued training again: after an embedded Redis restart the broker is empty
    (an adapter is claimed once, so a second delivery does nothing)."""
    return leases.resend_queued(ADAPTERS)


def adapters_recover_at_start(*, sole_worker_pool: bool) -> ReapReport:
    """Run when a stack starts, as render jobs' recovery is: with ``sole_worker_pool`` every
    training adapter is an orphan of the last shutdown; queued ones are sent again."""
    report = adapters_reap(stale_after_s=leases.ORPHANED_AFTER_S if sole_worker_pool else None)
    report.reenqueued += leases.resend_queued(ADAPTERS, exclude=report.requeued + report.reenqueued)
    return report

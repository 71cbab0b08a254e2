"""A character's training on the real stack: a Celery GPU worker process trains it, and is
killed mid-training (SIGKILL of its process group). The half-written version never becomes
the one in use, the reaper removes its folder and trains it again once, and a second death
fails it with its credits refunded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from billing import ledger
from billing.models import Reservation
from characters import lifecycle, services
from characters.models import CharacterAdapter
from tests.stack import (
    StackProcesses,
    stack_env,
    stack_processes,
    wait_until,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

State = CharacterAdapter.State
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def stack(
    redis_server: str, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[StackProcesses]:
    env = stack_env(
        django_db_blocker,
        redis_url=redis_server,
        media_root=tmp_path_factory.mktemp("character-media"),
        RENDER_HEARTBEAT_S="0.5",
        OMP_NUM_THREADS="1",
        # Long enough to be killed mid-way, whatever the machine's speed.
        DAILIES_CHARACTER_STEPS="100000",
    )
    with stack_processes(env) as procs:
        yield procs


def _kill_mid_training(stack: StackProcesses, adapter: CharacterAdapter) -> Path:
    worker = stack.start_worker()

    def training() -> bool:
        adapter.refresh_from_db()
        return adapter.state == State.TRAINING and adapter.progress_step >= 1

    assert wait_until(training, TIMEOUT_S, poll_s=0.1), stack.output[-4000:]
    final = lifecycle.adapter_folder(adapter)
    partial = list(final.parent.glob(f"{final.name}.partial-*"))
    assert partial, "the training writes into a private folder"
    stack.kill(worker)
    adapter.refresh_from_db()
    assert adapter.state == State.TRAINING, "killed too late"
    return partial[0]


def _reap(adapter: CharacterAdapter) -> lifecycle.ReapReport:
    reports: list[lifecycle.ReapReport] = []

    def reaped() -> bool:
        reports.append(lifecycle.adapters_reap(stale_after_s=3.0))
        return adapter.pk in reports[-1].requeued + reports[-1].failed

    assert wait_until(reaped, 15), "the dead worker's training was not reaped"
    return reports[-1]


def test_a_worker_killed_mid_training_leaves_no_half_written_adapter_in_use(
    stack, pro_team, locked, settings
) -> None:
    settings.MEDIA_ROOT = Path(stack.env["MEDIA_ROOT"])
    team, owner, _ = pro_team
    mara = locked("Mara")  # version 1, trained on this process
    first = mara.current_adapter
    before = ledger.balance(team).available
    second = services.adapter_retrain(character=mara, user=owner)

    partial = _kill_mid_training(stack, second)
    mara.refresh_from_db()
    assert mara.current_adapter == first
    assert not lifecycle.adapter_folder(second).exists()
    report = _reap(second)
    assert second.pk in report.requeued and not partial.exists()
    second.refresh_from_db()
    assert second.state == State.QUEUED and second.attempts == 1

    # Its second worker dies as well: the training fails and is refunded in full.
    partial = _kill_mid_training(stack, second)
    report = _reap(second)
    second.refresh_from_db()
    mara.refresh_from_db()
    assert second.pk in report.failed and second.state == State.FAILED
    assert "stopped responding" in second.error_message and not partial.exists()
    assert second.reservation.state == Reservation.State.RELEASED
    assert mara.current_adapter == first and Path(first.path).is_dir()
    assert ledger.balance(team).available == before and ledger.check_ledger() == []

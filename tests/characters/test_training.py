"""Training a character's adapter: cancelled (queued or mid-training) and failed trainings
are refunded in full; progress is pushed to the character's socket; a retrain leaves the
version in use until the new one is ready."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.models import Reservation
from characters import execution, lifecycle, services
from characters.models import CharacterAdapter
from generation import leases
from generation.uploads import frame_from_bytes
from studio.asgi import application
from tests.characters.conftest import png
from tests.stack import wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

State = CharacterAdapter.State


def _lock(team, owner, name: str = "Mara"):
    frame = frame_from_bytes(png((200, 30, 30)).read(), name="a.png")
    character = services.character_lock_from_uploads(
        team=team, user=owner, name=name, images=[frame]
    )
    return character, character.adapters.get()


def test_cancelling_a_queued_training_refunds_it_in_full(pro_team) -> None:
    team, owner, client = pro_team
    before = ledger.balance(team).available
    character, adapter = _lock(team, owner)
    assert ledger.balance(team).available == before - adapter.estimate_credits
    response = client.post(reverse("adapter_cancel", args=[character.pk, adapter.pk]))
    assert response.status_code == 302
    adapter.refresh_from_db()
    assert adapter.state == State.CANCELLED
    assert adapter.reservation.state == Reservation.State.RELEASED
    assert ledger.balance(team).available == before and ledger.balance(team).held == 0
    # The worker's later delivery of the message does nothing.
    assert execution.adapter_train_execute(adapter.pk) == "skipped"
    assert ledger.check_ledger() == []


def test_cancelling_mid_training_stops_it_refunds_it_and_writes_no_adapter(
    pro_team, settings
) -> None:
    team, owner, _ = pro_team
    settings.RENDER_HEARTBEAT_S = 0.05
    settings.CHARACTER_TRAINING = {"steps": 400, "rank": 2, "batch_size": 1}
    before = ledger.balance(team).available
    character, adapter = _lock(team, owner)
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(execution.adapter_train_execute(adapter.pk))
    )
    worker.start()

    def training() -> bool:
        adapter.refresh_from_db()
        return adapter.state == State.TRAINING and adapter.progress_step >= 2

    assert wait_until(training, 120)
    lifecycle.adapter_cancel(adapter=adapter)
    worker.join(timeout=120)
    adapter.refresh_from_db()
    character.refresh_from_db()
    assert outcome == [State.CANCELLED] and adapter.state == State.CANCELLED
    assert 2 <= adapter.progress_step < 400
    assert adapter.path == "" and character.current_adapter is None
    folder = lifecycle.adapter_folder(adapter)
    assert not folder.exists() and not list(folder.parent.glob("*.partial-*"))
    assert ledger.balance(team).available == before and ledger.balance(team).held == 0
    assert ledger.check_ledger() == []


def test_a_failed_training_is_refunded_and_says_so(pro_team, settings) -> None:
    team, owner, _ = pro_team
    settings.CHARACTER_TRAINING = {"steps": 3, "rank": 0}  # a rank the trainer refuses
    before = ledger.balance(team).available
    _character, adapter = _lock(team, owner)
    assert execution.adapter_train_execute(adapter.pk) == State.FAILED
    adapter.refresh_from_db()
    assert adapter.error_message.startswith("Training the character failed on the worker.")
    assert f"Your {adapter.estimate_credits} credits were refunded." in adapter.error_message
    assert adapter.error_detail  # the exception, for administrators
    assert ledger.balance(team).available == before and ledger.check_ledger() == []


def test_progress_is_pushed_to_the_characters_socket(pro_team) -> None:
    team, owner, client = pro_team
    character, adapter = _lock(team, owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def watch() -> list[str]:
        ws = WebsocketCommunicator(
            application,
            f"/ws/characters/{character.pk}/",
            headers=[
                (b"cookie", cookie.encode()),
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
            ],
        )
        connected, _ = await ws.connect()
        assert connected
        from asgiref.sync import sync_to_async

        await sync_to_async(execution.adapter_train_execute)(adapter.pk)
        seen = []
        while True:
            html = await ws.receive_from(timeout=10)
            seen.append(html)
            if 'data-state="ready"' in html:
                break
        await ws.disconnect()
        return seen

    seen = async_to_sync(watch)()
    assert all(h.startswith(f'<div id="adapter-{adapter.pk}-status"') for h in seen)
    assert any('data-state="training"' in h and 'data-step="3"' in h for h in seen)
    training = [h for h in seen if 'data-state="training"' in h]
    assert 'class="progress"' in training[0]
    # The running loss is on the page from the first step, not only once the adapter is ready.
    first_step = next(h for h in training if 'data-step="1"' in h)
    assert re.search(r"step 1 of 3 · loss \d+\.\d{4}", first_step)


def test_a_retrain_keeps_the_version_in_use_until_the_new_one_is_ready(pro_team, locked) -> None:
    team, _owner, client = pro_team
    mara = locked("Mara")
    first = mara.current_adapter
    response = client.post(reverse("character_retrain", args=[mara.pk]))
    assert response.status_code == 302
    second = mara.adapters.get(version=2)
    mara.refresh_from_db()
    assert second.state == State.QUEUED and mara.current_adapter == first
    # A second retrain while one is queued is refused, nothing reserved.
    before = ledger.balance(team).available
    client.post(reverse("character_retrain", args=[mara.pk]))
    assert mara.adapters.count() == 2 and ledger.balance(team).available == before
    assert execution.adapter_train_execute(second.pk) == State.READY
    mara.refresh_from_db()
    assert mara.current_adapter == second
    assert Path(first.path).is_dir() and Path(second.path).is_dir() and first.path != second.path


def test_a_queued_training_the_broker_lost_is_sent_again(pro_team, settings) -> None:
    team, owner, _ = pro_team
    _, adapter = _lock(team, owner)
    CharacterAdapter.objects.filter(pk=adapter.pk).update(queued_at=None)  # never sent
    report = lifecycle.adapters_reap()
    adapter.refresh_from_db()
    assert report.reenqueued == [adapter.pk] and adapter.queued_at is not None
    assert lifecycle.adapters_reap().reenqueued == []  # sent a moment ago: left alone
    # A stack starting alone finds it queued and sends it again, whatever its age.
    assert lifecycle.adapters_recover_at_start(sole_worker_pool=True).reenqueued == [adapter.pk]
    # A restarted embedded Redis lost every message: the training is sent again at once.
    assert lifecycle.adapters_requeue_waiting() == [adapter.pk]


def test_the_reaper_passes_over_a_training_deleted_while_it_looked(pro_team) -> None:
    team, owner, _ = pro_team
    _, adapter = _lock(team, owner)
    CharacterAdapter.objects.filter(pk=adapter.pk).update(
        state=State.TRAINING, worker="elsewhere:1", heartbeat_at=timezone.now()
    )
    real_lock = lifecycle.ADAPTERS.lock

    def deleted_meanwhile(pk: int) -> CharacterAdapter:
        CharacterAdapter.objects.filter(pk=pk).delete()
        return real_lock(pk)

    lease = dataclasses.replace(lifecycle.ADAPTERS, lock=deleted_meanwhile)
    report = leases.reap(lease, stale_after_s=leases.ORPHANED_AFTER_S)
    assert report.requeued == [] and report.failed == []

"""The composer's character picker while a character trains: its chip says how far the
training is and cannot be ticked, the character page's live progress shows under the
picker, and a picker fetched again once the training ends offers the chip. Only the
project team's characters appear; a crafted POST of a training one is refused with nothing
spent."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing import ledger
from characters import execution, lifecycle, services
from characters.models import Character, CharacterAdapter
from generation.models import RenderJob
from generation.uploads import frame_from_bytes
from storyboards import services as storyboards
from storyboards.models import Shot
from tests.characters.conftest import png
from tests.characters.test_use import COMPOSER
from tests.factories import team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(pro_team):
    team, owner, _ = pro_team
    return storyboards.project_create(team=team, user=owner, name="Pilot")


def _lock_untrained(team, owner, name: str) -> Character:
    frame = frame_from_bytes(png((10, 200, 10)).read(), name="a.png")
    return services.character_lock_from_uploads(team=team, user=owner, name=name, images=[frame])


def _training(character: Character, *, step: int, total: int) -> CharacterAdapter:
    adapter = lifecycle.adapter_claim(adapter_id=character.adapters.get().pk, worker="w1")
    assert adapter is not None
    CharacterAdapter.objects.filter(pk=adapter.pk).update(progress_step=step, progress_total=total)
    adapter.refresh_from_db()
    return adapter


def _chip(page: str, character: Character) -> str:
    found = re.search(rf'data-character-chip="{character.pk}">(.*?)</label>', page, re.S)
    assert found, f"no chip for @{character.name}"
    return found.group(1)


def _box(chip: str) -> str:
    found = re.search(r"<input [^>]*>", chip)
    assert found
    return found.group(0)


def test_a_training_characters_chip_is_disabled_and_its_progress_is_live(
    pro_team, project, locked
) -> None:
    team, owner, client = pro_team
    mara = locked("Mara")
    nell = _lock_untrained(team, owner, "Nell")
    adapter = _training(nell, step=4, total=10)
    other_team, other_owner = team_with_owner(plan_code="pro", name="Other")
    theirs = _lock_untrained(other_team, other_owner, "Zed")
    their_adapter = _training(theirs, step=1, total=10)

    page = client.get(reverse("shot_new", args=[project.pk])).content.decode()

    assert " disabled" not in _box(_chip(page, mara)) and "training" not in _chip(page, mara)
    nell_chip = _chip(page, nell)
    assert " disabled" in _box(nell_chip) and "training — 40 %" in nell_chip
    # The character page's status component, on the character's group, polling as fallback.
    assert f'id="adapter-{adapter.pk}-status"' in page
    assert f'ws-connect="/ws/characters/{nell.pk}/"' in page
    assert f'hx-get="{reverse("character_status", args=[nell.pk])}" hx-trigger="every 2s"' in page
    assert "step 4 of 10" in page and 'aria-valuenow="40"' in page
    # A ready character with nothing training connects to nothing.
    assert f'ws-connect="/ws/characters/{mara.pk}/"' not in page
    # Another team's character is not in the picker, nor its training.
    assert "Zed" not in page
    assert f"/ws/characters/{theirs.pk}/" not in page
    assert f"adapter-{their_adapter.pk}-status" not in page


def test_a_queued_or_failed_training_says_so_on_a_disabled_chip(pro_team, project) -> None:
    team, owner, client = pro_team
    queued = _lock_untrained(team, owner, "Nell")
    failed = _lock_untrained(team, owner, "Ozzy")
    lifecycle.adapter_fail(adapter_id=failed.adapters.get().pk, message="The worker crashed.")

    page = client.get(reverse("shot_new", args=[project.pk])).content.decode()

    assert "queued" in _chip(page, queued) and " disabled" in _box(_chip(page, queued))
    assert "training failed" in _chip(page, failed) and " disabled" in _box(_chip(page, failed))
    # Only a training in progress is watched.
    assert f"/ws/characters/{queued.pk}/" in page and f"/ws/characters/{failed.pk}/" not in page


def test_the_picker_fetched_after_training_offers_the_chip_and_keeps_the_ticks(
    pro_team, project, locked
) -> None:
    team, owner, client = pro_team
    mara = locked("Mara")
    nell = _lock_untrained(team, owner, "Nell")
    other_team, other_owner = team_with_owner(plan_code="pro", name="Other")
    theirs = _lock_untrained(other_team, other_owner, "Zed")
    adapter = nell.adapters.get()
    assert execution.adapter_train_execute(adapter.pk) == CharacterAdapter.State.READY

    response = client.get(
        reverse("composer_characters", args=[project.pk]),
        {"characters": [mara.pk], "watch": [nell.pk, theirs.pk, "x"]},
        headers={"HX-Request": "true"},
    )

    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith("<fieldset")
    assert " checked" in _box(_chip(page, mara))
    nell_box = _box(_chip(page, nell))
    assert " disabled" not in nell_box and " checked" not in nell_box
    # The training it was showing stays, finished: no socket, no polling.
    assert f'id="adapter-{adapter.pk}-status"' in page and 'data-state="ready"' in page
    assert "ws-connect" not in page and "every 2s" not in page
    assert "Zed" not in page and f"/characters/{theirs.pk}/" not in page


def test_another_teams_project_picker_is_404(pro_team) -> None:
    _, _, client = pro_team
    other_team, other_owner = team_with_owner(plan_code="pro", name="Other")
    theirs = storyboards.project_create(team=other_team, user=other_owner, name="Theirs")
    response = client.get(
        reverse("composer_characters", args=[theirs.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 404


def test_a_training_character_picked_by_a_crafted_post_is_refused_with_nothing_spent(
    pro_team, project
) -> None:
    team, owner, client = pro_team
    nell = _lock_untrained(team, owner, "Nell")
    _training(nell, step=4, total=10)
    before = ledger.balance(team).available

    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "On the beach", "characters": [nell.pk], "idempotency_key": "p"},
    )

    assert response.status_code == 200
    assert "@Nell is still training." in response.content.decode()
    assert not RenderJob.objects.exists() and not Shot.objects.exists()
    assert ledger.balance(team).available == before

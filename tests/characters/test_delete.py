"""Deleting a character: by whoever locked it or the team's owners and admins, after typing
its name; refused while it trains; its references and adapter folders leave the disk; takes
made with it keep their recipes, re-rendering one says the character is gone, and a take still
queued with it fails naming it, refunded in full."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role
from billing import ledger
from characters import lifecycle
from characters.models import Character, CharacterAdapter, CharacterReference
from generation import execution
from generation.models import RenderJob
from storyboards import services as storyboards
from storyboards.models import Shot
from tests.characters.test_use import COMPOSER
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def _said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _delete(client: Client, character: Character, confirm: str | None = None):
    url = reverse("character_delete", args=[character.pk])
    return client.post(url, {"confirm": character.name if confirm is None else confirm})


def _member(team, role: str = Role.MEMBER) -> Client:
    user = UserFactory()
    Membership.objects.create(team=team, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_deleting_removes_the_character_its_references_and_its_adapters_from_disk(
    pro_team, locked
) -> None:
    _team, _owner, client = pro_team
    mara = locked("Mara")
    adapter = mara.current_adapter
    reference = mara.references.get().image.name
    folder = Path(adapter.path)
    assert folder.is_dir() and default_storage.exists(reference)
    page = client.get(reverse("character_detail", args=[mara.pk])).content.decode()
    assert reverse("character_delete", args=[mara.pk]) in page

    # Without the name typed, nothing is deleted.
    response = _delete(client, mara, confirm="")
    assert response.status_code == 302
    assert _said(response) == ["Type Mara to confirm deleting them."]
    assert Character.objects.filter(pk=mara.pk).exists() and folder.is_dir()

    response = _delete(client, mara)
    assert response.status_code == 302 and response.url == reverse("character_list")
    assert not Character.objects.filter(pk=mara.pk).exists()
    assert not CharacterAdapter.objects.exists() and not CharacterReference.objects.exists()
    assert not folder.exists() and not lifecycle.character_folder(mara).exists()
    assert not default_storage.exists(reference)
    assert ledger.check_ledger() == []  # the training's settled reservation stays on record
    listed = client.get(reverse("character_list")).content.decode()
    assert reverse("character_detail", args=[mara.pk]) not in listed


def test_a_training_character_is_not_deleted(pro_team, locked) -> None:
    _team, owner, client = pro_team
    mara = locked("Mara")
    from characters import services

    retraining = services.adapter_retrain(character=mara, user=owner)
    response = _delete(client, mara)
    assert _said(response) == ["Mara is training: cancel the training, then delete them."]
    assert Character.objects.get(pk=mara.pk).adapters.count() == 2
    assert Path(mara.current_adapter.path).is_dir()
    # Once the training is cancelled, the delete goes through and nothing is left held.
    client.post(reverse("adapter_cancel", args=[mara.pk, retraining.pk]))
    assert _delete(client, mara).url == reverse("character_list")
    assert not Character.objects.filter(pk=mara.pk).exists()
    assert ledger.balance(mara.team).held == 0 and ledger.check_ledger() == []


def test_only_its_locker_and_the_teams_owners_and_admins_may_delete(pro_team, locked) -> None:
    team, _owner, _ = pro_team
    mara = locked("Mara")
    member = _member(team)
    response = _delete(member, mara)
    assert _said(response) == [
        "Only whoever locked Mara, or the team's owners and admins, can delete them."
    ]
    assert Character.objects.filter(pk=mara.pk).exists()
    assert reverse("character_delete", args=[mara.pk]) not in (
        member.get(reverse("character_detail", args=[mara.pk])).content.decode()
    )
    admin = _member(team, Role.ADMIN)
    assert _delete(admin, mara).url == reverse("character_list")
    assert not Character.objects.filter(pk=mara.pk).exists()


def test_another_teams_character_answers_404_and_stays(locked, seeded) -> None:
    mara = locked("Mara")
    from tests.factories import team_with_owner

    _other, stranger = team_with_owner(plan_code="pro", name="Other")
    client = Client()
    client.force_login(stranger)
    assert _delete(client, mara).status_code == 404
    assert Character.objects.filter(pk=mara.pk).exists()
    assert Path(mara.current_adapter.path).is_dir()


def test_a_take_made_with_a_deleted_character_keeps_its_recipe_and_says_so_on_reroll(
    pro_team, locked
) -> None:
    team, owner, client = pro_team
    project = storyboards.project_create(team=team, user=owner, name="Pilot")
    mara = locked("Mara")
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "a"},
    )
    shot, take = Shot.objects.get(), RenderJob.objects.get()
    recipe = take.recipe
    assert _delete(client, mara).url == reverse("character_list")
    take.refresh_from_db()
    assert take.recipe == recipe and recipe["adapters"][0]["sha256"]
    before = ledger.balance(team).available
    response = client.post(reverse("take_reroll", args=[shot.pk, take.pk]))
    assert response.status_code == 302
    assert _said(response)[-1] == (
        "This take was made with @Mara, deleted since: it cannot be rendered again with "
        "them. Render the shot anew instead."
    )
    assert RenderJob.objects.count() == 1 and ledger.balance(team).available == before
    response = client.post(
        reverse("take_promote", args=[shot.pk, take.pk]), {"quality": "standard"}
    )
    assert "deleted since" in _said(response)[-1] and RenderJob.objects.count() == 1


def test_a_queued_take_whose_character_is_deleted_fails_naming_it_refunded_in_full(
    pro_team, locked
) -> None:
    team, owner, client = pro_team
    project = storyboards.project_create(team=team, user=owner, name="Pilot")
    mara, nell = locked("Mara"), locked("Nell", (30, 30, 200))
    before = ledger.balance(team).available
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara meets @Nell", "idempotency_key": "gone"},
    )
    take = RenderJob.objects.get()
    assert take.state == RenderJob.State.QUEUED and ledger.balance(team).available < before
    assert _delete(client, nell).url == reverse("character_list")

    assert execution.render_job_execute(take.pk) == RenderJob.State.FAILED
    take.refresh_from_db()
    assert take.error_message == (
        f"@Nell was deleted before this take rendered. "
        f"Your {take.reservation.credits} credits were refunded."
    )
    assert not take.artifacts.exists() and Path(mara.current_adapter.path).is_dir()
    account = ledger.balance(team)
    assert account.available == before and account.held == 0
    assert ledger.check_ledger() == []


def test_a_character_deleted_while_the_worker_loads_its_adapter_fails_the_take_naming_it(
    pro_team, locked, monkeypatch
) -> None:
    team, owner, client = pro_team
    project = storyboards.project_create(team=team, user=owner, name="Pilot")
    mara = locked("Mara")
    before = ledger.balance(team).available
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "race"},
    )
    take = RenderJob.objects.get()
    generate = execution.runtime.generate

    def deleted_meanwhile(*args, **kwargs):
        # The take passed its check at the start; the owner deletes Mara just as the
        # worker's backend is about to read her adapter.
        assert _delete(client, mara).url == reverse("character_list")
        return generate(*args, **kwargs)

    monkeypatch.setattr(execution.runtime, "generate", deleted_meanwhile)
    assert execution.render_job_execute(take.pk) == RenderJob.State.FAILED
    take.refresh_from_db()
    assert take.error_message == (
        f"@Mara was deleted before this take rendered. "
        f"Your {take.reservation.credits} credits were refunded."
    )
    account = ledger.balance(team)
    assert account.available == before and account.held == 0
    assert ledger.check_ledger() == []

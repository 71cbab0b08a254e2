"""Locking a character: from uploaded references or from a box in a frame of a take; the
training reserved, trained on this process's backend and settled; plan gating."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from billing import ledger
from billing.models import Reservation
from characters import execution
from characters.models import Character, CharacterAdapter
from generation import execution as render_execution
from generation.models import RenderJob
from generation.requests import RenderRequest
from generation.vocabulary import Quality
from tests.characters.conftest import png
from tests.factories import submit_one, team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True)]

State = CharacterAdapter.State
PRICE = 20  # the seeded price book's character training


def test_lock_from_uploads_reserves_trains_and_settles(pro_team) -> None:
    team, _owner, client = pro_team
    before = ledger.balance(team).available
    response = client.post(
        reverse("character_new"),
        {
            "name": "Mara",
            "description": "a red-haired pilot",
            "references": [png((200, 30, 30), name="a.png"), png((30, 200, 30), name="b.png")],
        },
    )
    character = Character.objects.get(team=team)
    assert response.status_code == 302
    assert response["Location"] == reverse("character_detail", args=[character.pk])
    assert character.references.count() == 2
    adapter = character.adapters.get()
    assert adapter.state == State.QUEUED and adapter.version == 1
    assert adapter.reservation.credits == PRICE
    assert ledger.balance(team).available == before - PRICE and ledger.balance(team).held == PRICE

    assert execution.adapter_train_execute(adapter.pk) == State.READY
    adapter.refresh_from_db()
    character.refresh_from_db()
    folder = Path(adapter.path)
    assert adapter.state == State.READY and character.current_adapter == adapter
    assert (folder / "adapter.json").is_file() and len(adapter.sha256) == 64
    assert adapter.sha256 == execution.weights_sha256(folder)
    assert adapter.progress_step == adapter.progress_total == 3
    assert not list(folder.parent.glob("*.partial-*"))
    assert adapter.reservation.state == Reservation.State.SETTLED
    assert ledger.balance(team).available == before - PRICE and ledger.balance(team).held == 0
    assert ledger.check_ledger() == []

    page = client.get(reverse("character_detail", args=[character.pk])).content.decode()
    assert "@Mara" in page and "Version 1 · Ready" in page


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_spent(pro_team) -> None:
    team, _, client = pro_team
    before = ledger.balance(team).available
    bad = png((1, 2, 3), name="x.png")
    bad.file.write(b"")  # keep the name, make the bytes junk
    bad.file.seek(0)
    bad.file.truncate()
    bad.file.write(b"not an image at all")
    bad.file.seek(0)
    response = client.post(reverse("character_new"), {"name": "Mara", "references": [bad]})
    assert response.status_code == 200
    assert "is not an image we can read" in response.content.decode()
    assert not Character.objects.exists() and not CharacterAdapter.objects.exists()
    assert ledger.balance(team).available == before


def test_nine_references_are_refused(pro_team) -> None:
    _team, _, client = pro_team
    files = [png((10 * i, 0, 0), name=f"{i}.png") for i in range(9)]
    response = client.post(reverse("character_new"), {"name": "Mara", "references": files})
    assert "Upload 1 to 8 reference images." in response.content.decode()
    assert not Character.objects.exists()


def test_a_name_is_unique_per_team_whatever_its_case(pro_team, locked) -> None:
    team, _, client = pro_team
    locked("Mara")
    before = ledger.balance(team).available
    response = client.post(
        reverse("character_new"), {"name": "mara", "references": [png((1, 1, 1))]}
    )
    assert "already has a character named mara" in response.content.decode()
    assert Character.objects.filter(team=team).count() == 1
    assert ledger.balance(team).available == before


def _rendered_take(team, owner) -> RenderJob:
    request = RenderRequest(
        prompt="a figure in a red shirt stands on a beach",
        quality=Quality.FLASH,
        resolution=540,
        duration_s=1,
        fps=12,
        seed=3,
    )
    job = submit_one(team=team, user=owner, request=request)
    assert render_execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    return job


def test_lock_from_a_box_in_a_frame_of_a_take(pro_team) -> None:
    team, owner, client = pro_team
    job = _rendered_take(team, owner)
    response = client.post(
        reverse("character_lock_take"),
        {"job": job.pk, "frame": 5, "x": 100, "y": 40, "w": 120, "h": 300, "name": "Nell"},
    )
    character = Character.objects.get(team=team, name="Nell")
    assert response["Location"] == reverse("character_detail", args=[character.pk])
    ref = character.references.get()
    assert ref.source_job == job and ref.frame_index == 5
    assert ref.box == {"x": 100, "y": 40, "w": 120, "h": 300}
    with ref.image.open("rb") as fh, Image.open(fh) as img:
        assert img.size == (120, 300)  # the figure's box, cut from the 960×540 frame
    assert character.adapters.get().state == State.QUEUED


def test_a_box_outside_the_frame_is_refused_with_nothing_saved(pro_team) -> None:
    team, owner, client = pro_team
    job = _rendered_take(team, owner)
    before = ledger.balance(team).available
    response = client.post(
        reverse("character_lock_take"),
        {"job": job.pk, "frame": 0, "x": 5000, "y": 0, "w": 50, "h": 50, "name": "Nell"},
        follow=True,
    )
    assert "Drag a box of at least 8 × 8 pixels" in response.content.decode()
    assert not Character.objects.exists()
    assert ledger.balance(team).available == before


@pytest.mark.parametrize(("plan", "allowed"), [("free", 1), ("standard", 5)])
def test_plan_gating(seeded, plan: str, allowed: int) -> None:
    team, owner = team_with_owner(plan_code=plan)
    client = Client()
    client.force_login(owner)
    ledger.topup(team=team, credits=500)
    for i in range(allowed):
        client.post(reverse("character_new"), {"name": f"C{i}", "references": [png((i, 0, 0))]})
    assert Character.objects.filter(team=team).count() == allowed
    before = ledger.balance(team).available
    response = client.post(
        reverse("character_new"), {"name": "Extra", "references": [png((9, 9, 9))]}
    )
    page = response.content.decode()
    label = "1 locked character " if allowed == 1 else f"{allowed} locked characters "
    assert f"plan: up to {label}" in page and "upgrade to lock another" in page
    assert Character.objects.filter(team=team).count() == allowed
    assert ledger.balance(team).available == before


def test_enterprise_allowance_is_set_per_team(seeded) -> None:
    team, owner = team_with_owner(plan_code="enterprise")
    team.max_characters_override = 1
    team.save()
    client = Client()
    client.force_login(owner)
    client.post(reverse("character_new"), {"name": "One", "references": [png((1, 0, 0))]})
    response = client.post(
        reverse("character_new"), {"name": "Two", "references": [png((2, 0, 0))]}
    )
    assert "Enterprise plan: up to 1 locked character" in response.content.decode()
    assert Character.objects.filter(team=team).count() == 1


def test_the_plans_page_says_how_many_characters_each_plan_keeps(seeded) -> None:
    page = Client().get(reverse("plans")).content.decode()
    for text in ("1 locked character<", "5 locked characters", "20 locked characters"):
        assert text in page, text
    assert "Locked characters by contract" in page

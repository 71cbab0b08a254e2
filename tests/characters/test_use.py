"""Using a locked character: ``@Name`` and the picker put its adapter into the recipe (and
the engine renders with it); an unknown name is refused next to the prompt with nothing
spent or saved; a re-roll keeps the adapter version it was rendered with."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from billing import ledger
from characters import services
from generation import execution
from generation.models import Artifact, RenderJob
from storyboards import services as storyboards
from storyboards.models import Shot

pytestmark = [pytest.mark.django_db(transaction=True)]

COMPOSER = {
    "title": "Beach",
    "mode": "t2v",
    "duration_s": 1,
    "fps": 12,
    "resolution": 540,
    "quality": "flash",
    "seed_mode": "fixed",
    "seed": 100,
    "variants": 1,
    "focal_mm": 35,
    "aperture": 2,
    "focus_m": "",
    "shutter_deg": 180,
    "aspect": "16:9",
    "move_1": "",
    "move_2": "",
    "move_3": "",
    "keyframes": "",
    "interpolation": "smooth",
    "action": "render",
}


@pytest.fixture
def project(pro_team):
    team, owner, _ = pro_team
    return storyboards.project_create(team=team, user=owner, name="Pilot")


def test_at_name_puts_the_adapter_in_the_recipe_and_the_render_applies_it(
    pro_team, project, locked
) -> None:
    team, _, client = pro_team
    mara = locked("Mara")
    adapter = mara.current_adapter
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara walks along the beach", "idempotency_key": "a"},
    )
    assert response.status_code == 302
    job = RenderJob.objects.get(team=team)
    assert job.recipe["adapters"] == [
        {"path": adapter.path, "scale": 1.0, "version": 1, "sha256": adapter.sha256}
    ]
    assert [c["name"] for c in job.recipe["characters"]] == ["Mara"]
    assert execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    job.refresh_from_db()
    with job.artifacts.get(kind=Artifact.Kind.RECIPE).file.open("rb") as fh:
        ran = json.load(fh)
    # The engine loaded the adapter this version trained.
    assert [lora["path"] for lora in ran["backend_metadata"]["loras"]] == [adapter.path]
    assert ran["adapters"][0]["sha256"] == adapter.sha256


def test_an_unknown_name_is_refused_beside_the_prompt_with_nothing_spent_or_saved(
    pro_team, project, locked
) -> None:
    team, _, client = pro_team
    locked("Mara")
    before = ledger.balance(team).available
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Marra walks along the beach", "idempotency_key": "b"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "No character named @Marra in your team" in page
    assert 'id="id_prompt-errors"' in page  # beside the prompt field
    assert not RenderJob.objects.exists() and not Shot.objects.exists()
    assert ledger.balance(team).available == before
    # The live estimate says it too, before any render.
    estimate = client.get(
        reverse("composer_estimate", args=[project.pk]),
        COMPOSER | {"prompt": "@Marra walks"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "No character named @Marra" in estimate and 'id="limit-prompt"' in estimate


def test_a_character_still_training_cannot_be_used_yet(pro_team, project) -> None:
    team, owner, client = pro_team
    from generation.uploads import frame_from_bytes
    from tests.characters.conftest import png

    frame = frame_from_bytes(png((1, 2, 3)).read(), name="a.png")
    services.character_lock_from_uploads(team=team, user=owner, name="Mara", images=[frame])
    before = ledger.balance(team).available
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "c"},
    )
    assert "@Mara is still training." in response.content.decode()
    assert not RenderJob.objects.exists() and ledger.balance(team).available == before


def test_two_characters_apply_both_adapters_and_a_third_is_refused(
    pro_team, project, locked
) -> None:
    team, _, client = pro_team
    mara, nell, _ = locked("Mara"), locked("Nell", (30, 30, 200)), locked("Ozzy", (0, 200, 0))
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER
        | {"prompt": "@Mara talks to someone", "characters": [nell.pk], "idempotency_key": "d"},
    )
    job = RenderJob.objects.get(team=team)
    assert [(c["name"], c["applied"]) for c in job.recipe["characters"]] == [
        ("Mara", True),
        ("Nell", True),
    ]
    adapters = [mara.current_adapter, nell.current_adapter]
    assert [a["sha256"] for a in job.recipe["adapters"]] == [a.sha256 for a in adapters]
    assert execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    job.refresh_from_db()
    with job.artifacts.get(kind=Artifact.Kind.RECIPE).file.open("rb") as fh:
        ran = json.load(fh)
    # The engine loaded both versions' adapters, each at its scale.
    assert [(lora["path"], lora["scale"]) for lora in ran["backend_metadata"]["loras"]] == [
        (a.path, 1.0) for a in adapters
    ]
    assert list(Shot.objects.get().characters.all()) == [nell]
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara, @Nell and @Ozzy", "idempotency_key": "e"},
    )
    assert "A shot holds at most 2 locked characters." in response.content.decode()
    assert RenderJob.objects.count() == 1


def test_a_reroll_keeps_the_adapter_version_it_was_rendered_with(pro_team, project, locked) -> None:
    _team, owner, client = pro_team
    mara = locked("Mara")
    first = mara.current_adapter
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "f"},
    )
    shot = Shot.objects.get()
    take = RenderJob.objects.get()
    # A retrained version becomes current; the old take's re-roll still uses version 1.
    second = services.adapter_retrain(character=mara, user=owner)
    from characters import execution as training

    assert training.adapter_train_execute(second.pk) == "ready"
    reroll = storyboards.shot_reroll(shot=shot, job=take, user=owner)
    assert reroll.recipe["adapters"][0]["version"] == 1
    assert reroll.recipe["adapters"][0]["sha256"] == first.sha256
    # A new render uses version 2; rolling back points new renders at version 1 again.
    client.post(
        reverse("shot_edit", args=[shot.pk]),
        COMPOSER | {"prompt": "@Mara on the beach", "idempotency_key": "g"},
    )
    assert RenderJob.objects.latest("pk").recipe["adapters"][0]["version"] == 2
    response = client.post(reverse("adapter_rollback", args=[mara.pk, first.pk]))
    assert response.status_code == 302
    client.post(
        reverse("shot_edit", args=[shot.pk]),
        COMPOSER | {"prompt": "@Mara at dusk", "idempotency_key": "h"},
    )
    assert RenderJob.objects.latest("pk").recipe["adapters"][0]["version"] == 1


def test_a_finished_take_is_scored_against_its_characters_and_flagged_below_the_threshold(
    pro_team, project, locked
) -> None:
    team, _, client = pro_team
    mara = locked("Mara")
    nell = locked("Nell", (30, 30, 200))
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"prompt": "@Mara meets @Nell on the beach", "idempotency_key": "s"},
    )
    job = RenderJob.objects.get(team=team)
    assert execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    job.refresh_from_db()
    scores = job.character_scores
    assert set(scores) == {str(mara.pk), str(nell.pk)}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert "drift_s" in job.timings and job.drift_score == min(scores.values())

    shot_page = reverse("shot_detail", args=[job.shot_id])
    # Above the team's threshold: shown, not flagged.
    team.drift_threshold = 0.0
    team.save()
    page = client.get(shot_page).content.decode()
    assert "Character drift" in page and "% like the references" in page
    assert "drifting" not in page
    # Below it: flagged on the shot page, the storyboard card and the character page.
    team.drift_threshold = job.drift_score + 0.01
    team.save()
    assert "drifting" in client.get(shot_page).content.decode()
    board = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "% likeness · drifting" in board
    detail = client.get(reverse("character_detail", args=[mara.pk])).content.decode()
    assert f"{round(scores[str(mara.pk)] * 100)} %" in detail


def test_owners_set_the_drift_threshold(pro_team) -> None:
    team, _, client = pro_team
    assert team.drift_threshold == 0.8
    assert 'name="threshold"' in client.get(reverse("character_list")).content.decode()
    client.post(reverse("drift_threshold"), {"threshold": "70"})
    team.refresh_from_db()
    assert team.drift_threshold == pytest.approx(0.7)
    page = client.post(reverse("drift_threshold"), {"threshold": "150"}, follow=True)
    assert "The drift threshold is between 0 and 1." in page.content.decode()
    page = client.post(reverse("drift_threshold"), {"threshold": "nan"}, follow=True)
    team.refresh_from_db()
    assert team.drift_threshold == pytest.approx(0.7)

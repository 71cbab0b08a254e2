"""Reported composer defects, each kept fixed by a test: uploads of every common format,
bounded keyframes, every refusal beside its field, one shot per render, no overdraft under
parallel batches, a reused key refused, and one render form (the composer's)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from billing import ledger
from billing.models import LedgerEntry
from generation.models import RenderBatch, RenderJob
from storyboards.models import Shot
from tests.storyboards.test_views import COMPOSER, HX, _errors_of
from tests.threads import race

pytestmark = pytest.mark.django_db


def _image(fmt: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, format=fmt)
    return SimpleUploadedFile(f"frame.{fmt.lower()}", buffer.getvalue())


def _state(team) -> tuple[int, int, int, int, int]:
    account = ledger.balance(team)
    account.refresh_from_db()
    return (
        account.available,
        account.held,
        LedgerEntry.objects.filter(team=team).count(),
        RenderJob.objects.count(),
        Shot.objects.count(),
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_image_to_video_from_the_composer_renders_every_still_format(owner_client, fmt) -> None:
    client, _team, _owner, project, _ = owner_client
    shots = Shot.objects.count()
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"mode": "i2v", "image": _image(fmt), "action": "render"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = RenderJob.objects.get()
    assert job.mode == "i2v" and job.input_image
    with job.input_image.open("rb") as fh, Image.open(fh) as img:
        assert img.size == (64, 48)
    assert Shot.objects.count() == shots + 1 and job.shot.current_job_id == job.pk


def test_the_renders_page_has_no_second_render_form(owner_client) -> None:
    client, team, *_ = owner_client
    before = _state(team)
    assert "<textarea" not in client.get(reverse("job_list")).content.decode()
    response = client.post(reverse("job_list"), {"prompt": "a lamp", "seed": "1" + "0" * 20})
    assert response.status_code == 405 and _state(team) == before


NESTED = "[" * 5000 + "]" * 5000
FAR = json.dumps(
    [
        {"t": 0, "position": [0, 1.6, -6], "look_at": [0, 1, 0]},
        {"t": 1e300, "position": [0, 1.6, -5], "look_at": [0, 1, 0]},
    ]
)
MANY = json.dumps(
    [{"t": i / 100, "position": [0, 1.6, -6 + i / 100], "look_at": [0, 1, 0]} for i in range(40)]
)
HUGE = json.dumps(
    [{"t": i, "position": [0, 1.6, -6 + i], "look_at": [0, 1, 0]} for i in range(5000)]
)
DISTANT = json.dumps(
    [
        {"t": 0, "position": [0, 1.6, -6], "look_at": [0, 1, 0]},
        {"t": 1, "position": [1e30, 1.6, -5], "look_at": [0, 1, 0]},
    ]
)


@pytest.mark.parametrize(
    ("keyframes", "message"),
    [
        (NESTED, "nested too deeply"),
        (FAR, "at most 60 s"),
        (MANY, "at most 32 keyframes"),
        (HUGE, "limited to 16,000 characters"),
        (DISTANT, "within 1000 m"),
    ],
)
def test_absurd_keyframes_are_refused_beside_the_field(owner_client, keyframes, message) -> None:
    client, team, _owner, project, _ = owner_client
    before = _state(team)
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"keyframes": keyframes, "action": "render"},
    )
    assert response.status_code == 200
    assert message in _errors_of(response.content.decode(), "keyframes")
    assert _state(team) == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"aspect": "3:1"}, "aspect", "Select a valid choice"),
        ({"quality": "ultra"}, "quality", "Select a valid choice"),
        ({"move_1_easing": "bounce"}, "move_1", "Easing: Select a valid choice"),
        ({"interpolation": "cubic"}, "interpolation", "Select a valid choice"),
        ({"seed_mode": "lucky"}, "seed_mode", "Select a valid choice"),
    ],
)
def test_fields_without_an_error_slot_before_now_show_their_error(
    owner_client, changes, field, message
) -> None:
    client, team, _owner, project, _ = owner_client
    before = _state(team)
    html = client.post(
        reverse("shot_new", args=[project.pk]), COMPOSER | changes | {"action": "render"}
    ).content.decode()
    assert message in _errors_of(html, field)
    assert _state(team) == before


def test_an_empty_project_name_is_a_422_that_htmx_is_told_to_swap(owner_client) -> None:
    client, *_ = owner_client
    response = client.post(reverse("project_create"), {"name": "  "}, **HX)
    assert response.status_code == 422
    assert "Give the project a name." in response.content.decode()
    page = client.get(reverse("dashboard")).content.decode()
    config = page.split('name="htmx-config" content=\'', 1)[1].split("'", 1)[0]
    handling = json.loads(config)["responseHandling"]
    assert {"code": "422", "swap": True} in handling


def test_a_render_refused_for_credits_saves_no_new_shot(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    ledger.adjust(team=team, credits=-ledger.balance(team).available, reason="test")
    before = _state(team)
    response = client.post(reverse("shot_new", args=[project.pk]), COMPOSER | {"action": "render"})
    assert response.status_code == 200 and "your team has 0" in response.content.decode()
    assert _state(team) == before


def test_a_key_reused_with_other_settings_is_refused_not_answered_with_the_old_take(
    owner_client,
) -> None:
    client, team, _owner, project, _ = owner_client
    url = reverse("shot_new", args=[project.pk])
    first = client.post(url, COMPOSER | {"action": "render", "idempotency_key": "same"})
    assert first.status_code == 302
    before = _state(team)
    again = client.post(
        url, COMPOSER | {"prompt": "a blue cube", "action": "render", "idempotency_key": "same"}
    )
    assert again.status_code == 409
    assert "already submitted with other settings" in again.content.decode()
    assert _state(team) == before


@pytest.mark.django_db(transaction=True)
def test_three_composer_batches_at_once_never_spend_past_the_balance(seeded) -> None:
    from storyboards import services
    from tests.factories import team_with_owner

    team, owner = team_with_owner()
    project = services.project_create(team=team, user=owner, name="Race")
    ledger.adjust(team=team, credits=3 - ledger.balance(team).available, reason="test")

    def submit(i: int) -> int:
        client = Client()
        client.force_login(owner)
        data = COMPOSER | {"variants": 3, "action": "render", "idempotency_key": f"tab-{i}"}
        return client.post(reverse("shot_new", args=[project.pk]), data).status_code

    statuses = race(3, submit)
    assert sorted(statuses) == [200, 200, 302], statuses  # type: ignore[type-var]
    account = ledger.balance(team)
    account.refresh_from_db()
    assert (account.available, account.held) == (0, 3)
    assert RenderBatch.objects.count() == 1 and RenderJob.objects.count() == 3
    assert Shot.objects.filter(project=project).count() == 1
    assert ledger.check_ledger() == []

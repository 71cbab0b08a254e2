"""The composer's start + end keyframes, loop and reframe: each reaches the render service
as the API's do, and each refusal is beside its field with nothing saved or spent."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from generation import execution
from generation.models import RenderJob
from storyboards.models import Shot
from tests.storyboards.test_composer_defects import _state
from tests.storyboards.test_views import COMPOSER, HX, _errors_of

pytestmark = pytest.mark.django_db


def _png(color: str, name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def _finished_take(client, project) -> tuple[Shot, RenderJob]:
    """A shot rendered from the composer at 16:9, its take rendered by the tiny engine."""
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"action": "render", "idempotency_key": "first"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    shot = Shot.objects.get(project=project, title="Push")
    take = shot.jobs.get()
    assert execution.render_job_execute(take.pk) == RenderJob.State.SUCCEEDED
    take.refresh_from_db()
    return shot, take


def test_keyframes_from_the_composer_render_one_take_with_both_frames(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER
        | {
            "mode": "keyframes",
            "image": _png("red", "start.png"),
            "end_image": _png("blue", "end.png"),
            "action": "render",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = RenderJob.objects.get()
    assert job.mode == "keyframes" and job.shot.current_job_id == job.pk
    assert job.recipe["input_image"] == job.input_image.name
    assert job.recipe["input_end_image"] == job.input_end_image.name
    for stored, colour in ((job.input_image, (255, 0, 0)), (job.input_end_image, (0, 0, 255))):
        with stored.open("rb") as fh, Image.open(fh) as img:
            assert img.size == (64, 36) and img.convert("RGB").getpixel((0, 0)) == colour


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"image": "start"}, "end_image", "needs an end frame"),
        ({"end_image": "end"}, "image", "needs a start frame"),
    ],
)
def test_keyframes_without_both_frames_are_refused_beside_the_field(
    owner_client, changes, field, message
) -> None:
    client, team, _owner, project, _ = owner_client
    before = _state(team)
    uploads = {name: _png("red", f"{stem}.png") for name, stem in changes.items()}
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"mode": "keyframes", "action": "render"} | uploads,
    )
    assert response.status_code == 200
    assert message in _errors_of(response.content.decode(), field)
    assert _state(team) == before


def test_loop_on_a_text_render_is_in_the_recipe(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    response = client.post(
        reverse("shot_new", args=[project.pk]), COMPOSER | {"loop": "on", "action": "render"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = RenderJob.objects.get()
    assert job.recipe["loop"] is True
    page = client.get(reverse("shot_edit", args=[job.shot_id])).content.decode()
    assert re.search(r'<input type="checkbox" name="loop"[^>]*checked', page)  # kept on edit


@pytest.mark.django_db(transaction=True)  # the worker renders the source take
def test_loop_is_refused_for_an_extension_beside_the_checkbox(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    shot, take = _finished_take(client, project)
    before = _state(team)
    data = COMPOSER | {"mode": "extend", "source_job": take.pk, "loop": "on"}
    html = client.post(
        reverse("shot_edit", args=[shot.pk]), data | {"action": "render", "idempotency_key": "x"}
    ).content.decode()
    assert "Only text to video and image to video can loop." in _errors_of(html, "loop")
    assert _state(team) == before
    # The live estimate says the same beside the checkbox.
    estimate = client.get(reverse("composer_estimate", args=[project.pk]), data, **HX)
    note = re.search(r'id="limit-loop"[^>]*>(.*?)</p>', estimate.content.decode(), re.S)
    assert note and "can loop" in note[1]
    # The page offers the checkbox with the modes it is enabled for, and says why.
    page = client.get(reverse("shot_edit", args=[shot.pk])).content.decode()
    assert re.search(r'<input type="checkbox" name="loop" data-loop-modes="t2v i2v"', page)


@pytest.mark.django_db(transaction=True)  # the worker renders the source take
def test_a_reframe_is_a_new_take_on_the_same_shot_at_the_new_aspect(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    shot, take = _finished_take(client, project)
    page = client.get(reverse("shot_edit", args=[shot.pk])).content.decode()
    assert re.search(rf'<option value="{take.pk}" selected>', page)  # its take, preselected
    available = _state(team)[0]
    response = client.post(
        reverse("shot_edit", args=[shot.pk]),
        COMPOSER
        | {
            "mode": "reframe",
            "source_job": take.pk,
            "aspect": "9:16",
            "action": "render",
            "idempotency_key": "reframe",
        },
    )
    assert response.status_code == 302, _errors_of(response.content.decode(), "source_job")
    shot.refresh_from_db()
    reframe = shot.current_job
    assert reframe != take and set(shot.jobs.all()) == {take, reframe}
    assert reframe.mode == "reframe" and reframe.source_job == take
    assert reframe.aspect == "9:16" and reframe.camera.aspect == "9:16"
    assert (reframe.duration_s, reframe.fps) == (take.duration_s, take.fps)
    assert _state(team)[0] == available - reframe.estimate_credits


def test_a_reframe_of_a_shot_without_a_finished_take_is_refused(owner_client) -> None:
    client, team, _owner, _project, (one, _two) = owner_client
    before = _state(team)
    saved = (one.mode, one.aspect, one.updated_at)
    for source in ("", "999999"):
        response = client.post(
            reverse("shot_edit", args=[one.pk]),
            COMPOSER
            | {"mode": "reframe", "source_job": source, "aspect": "9:16", "action": "render"},
        )
        assert response.status_code == 200
        errors = _errors_of(response.content.decode(), "source_job")
        assert "Choose the render to start from" in errors or "valid choice" in errors
        assert _state(team) == before
    one.refresh_from_db()
    assert (one.mode, one.aspect, one.updated_at) == saved


@pytest.mark.django_db(transaction=True)  # the worker renders the source take
def test_a_reframe_to_the_same_aspect_is_refused_beside_the_aspect(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    shot, take = _finished_take(client, project)
    before = _state(team)
    html = client.post(
        reverse("shot_edit", args=[shot.pk]),
        COMPOSER
        | {"mode": "reframe", "source_job": take.pk, "action": "render", "idempotency_key": "r"},
    ).content.decode()
    assert "another aspect ratio than the source&#x27;s 16:9" in _errors_of(html, "aspect")
    assert _state(team) == before

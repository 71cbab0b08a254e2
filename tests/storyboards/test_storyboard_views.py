"""The storyboard on the project page: transitions, the render bar, the film's format."""

from __future__ import annotations

import uuid

from billing import ledger
from generation.models import RenderJob
from storyboards.models import Shot, Transition


def _page(client, project) -> str:
    return client.get(f"/projects/{project.pk}/").content.decode()


def test_a_transition_is_set_on_the_card_and_auto_says_why(owner_client) -> None:
    client, _, _, project, shots = owner_client
    url = f"/shots/{shots[1].pk}/transition/"
    response = client.post(
        url, {"transition": "crossfade", "seconds": "0.6"}, HTTP_HX_REQUEST="true"
    )
    assert (
        response.status_code == 200 and 'data-transition="crossfade"' in response.content.decode()
    )
    shots[1].refresh_from_db()
    assert (shots[1].transition, shots[1].transition_s) == (Transition.CROSSFADE, 0.6)
    client.post(url, {"transition": "auto"})
    page = _page(client, project)
    assert "data-transition-reason" in page and "Auto:" in page


def test_a_refused_transition_says_why_and_changes_nothing(owner_client) -> None:
    client, _, _, _, shots = owner_client
    response = client.post(
        f"/shots/{shots[1].pk}/transition/",
        {"transition": "crossfade", "seconds": "9"},
        follow=True,
    )
    assert "A crossfade lasts 0.2 to 2 seconds." in response.content.decode()
    response = client.post(
        f"/shots/{shots[0].pk}/transition/", {"transition": "continue"}, follow=True
    )
    assert "The first shot has no shot before it" in response.content.decode()
    assert list(Shot.objects.values_list("transition", flat=True)) == ["cut", "cut"]


def test_render_storyboard_shows_the_price_then_reserves_it_once(owner_client) -> None:
    client, team, _, project, shots = owner_client
    client.post(f"/shots/{shots[1].pk}/transition/", {"transition": "continue"})
    page = _page(client, project)
    assert "2 shots to render (shots 1, 2)" in page
    assert not RenderJob.objects.exists()
    key = uuid.uuid4().hex
    for _ in range(2):  # a double submit renders once
        response = client.post(
            f"/projects/{project.pk}/render/", {"idempotency_key": key}, follow=True
        )
    assert "Rendering 2 shots" in response.content.decode()
    jobs = list(RenderJob.objects.order_by("pk"))
    assert [j.shot_id for j in jobs] == [shots[0].pk, shots[1].pk]
    assert jobs[1].mode == "extend" and jobs[1].source_job_id == jobs[0].pk
    assert ledger.balance(team).held == sum(j.estimate_credits for j in jobs)
    response = client.post(
        f"/projects/{project.pk}/render/", {"idempotency_key": uuid.uuid4().hex}, follow=True
    )
    assert "nothing to render" in response.content.decode()


def test_the_films_format_is_set_on_the_project_page(owner_client) -> None:
    client, _, _, project, _ = owner_client
    client.post(f"/projects/{project.pk}/format/", {"aspect": "9:16", "fps": "30"})
    project.refresh_from_db()
    assert (project.aspect, project.fps) == ("9:16", 30)
    response = client.post(
        f"/projects/{project.pk}/format/", {"aspect": "7:5", "fps": "30"}, follow=True
    )
    assert "Choose one of the listed" in response.content.decode()
    project.refresh_from_db()
    assert project.aspect == "9:16"


def test_other_teams_storyboards_are_404(owner_client, other_team) -> None:
    client = owner_client[0]
    project, shot = other_team
    assert client.post(f"/shots/{shot.pk}/transition/", {"transition": "cut"}).status_code == 404
    assert client.post(f"/projects/{project.pk}/render/").status_code == 404
    assert (
        client.post(f"/projects/{project.pk}/format/", {"aspect": "1:1", "fps": "24"}).status_code
        == 404
    )
    assert client.post(f"/projects/{project.pk}/export/").status_code == 404
    assert not RenderJob.objects.exists()


def test_an_export_of_unrendered_shots_is_refused_beside_the_button(owner_client) -> None:
    client, _, _, project, _ = owner_client
    response = client.post(f"/projects/{project.pk}/export/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "data-export-error" in body
    assert "Shot 1 has no finished take yet" in body


def test_the_composer_prices_a_continuation_as_the_extension_it_renders(owner_client) -> None:
    from billing import pricing

    client, _, _, project, shots = owner_client
    client.post(f"/shots/{shots[1].pk}/transition/", {"transition": "continue"})
    page = client.get(f"/shots/{shots[1].pk}/edit/").content.decode()
    assert f'name="shot" value="{shots[1].pk}"' in page
    assert "Continues shot 1: rendered as an extension" in page
    params = {"prompt": "a red ball rolls", "mode": "t2v", "duration_s": "2", "fps": "24",
              "resolution": "540", "quality": "flash", "aspect": "16:9", "variants": "1"}  # fmt: skip
    response = client.get(
        f"/projects/{project.pk}/shots/estimate/",
        params | {"shot": shots[1].pk},
        HTTP_HX_REQUEST="true",
    )
    extension = pricing.estimate(duration_s=2, resolution=540, quality="flash", mode="extend")
    assert f'data-estimate-credits="{extension.credits}"' in response.content.decode()
    assert "data-storyboard-note" in response.content.decode()
    plain = client.get(f"/projects/{project.pk}/shots/estimate/", params, HTTP_HX_REQUEST="true")
    assert "data-storyboard-note" not in plain.content.decode()


def test_the_estimate_of_another_teams_shot_is_404(owner_client, other_team) -> None:
    client, _, _, project, _ = owner_client
    _, shot = other_team
    response = client.get(f"/projects/{project.pk}/shots/estimate/", {"shot": shot.pk})
    assert response.status_code == 404

"""Studio pages: full page or htmx fragment, errors beside their fields, other teams 404."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing import ledger
from billing.models import PriceBook
from generation.models import RenderJob
from storyboards.models import Project, Shot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}

COMPOSER = {
    "title": "Push",
    "prompt": "a red ball rolls across a tiled floor, slow push-in",
    "mode": "t2v",
    "duration_s": 2,
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
    "move_1": "dolly:in",
    "move_1_speed": 0.5,
    "move_1_easing": "ease_in_out",
    "move_2": "",
    "move_3": "",
    "keyframes": "",
    "interpolation": "smooth",
}


def _full(response) -> bool:
    return "<html" in response.content.decode()


def _errors_of(html: str, field: str) -> str:
    match = re.search(rf'id="id_{field}-errors"[^>]*>(.*?)</ul>', html, re.S)
    return match[1] if match else ""


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("dashboard", None),
        ("project_detail", "project"),
        ("project_rename", "project"),
        ("composer_parse", "project"),
        ("composer_estimate", "project"),
        ("shot_detail", "shot"),
    ],
)
def test_get_endpoints_answer_a_fragment_for_htmx_and_a_page_otherwise(
    owner_client, name, kind
) -> None:
    client, _team, _owner, project, shots = owner_client
    args = {"project": [project.pk], "shot": [shots[0].pk], None: []}[kind]
    url = reverse(name, args=args) + "?prompt=35mm+dolly+in"
    full, fragment = client.get(url), client.get(url, **HX)
    assert full.status_code == fragment.status_code == 200
    assert _full(full)
    assert not _full(fragment) and fragment.content.strip()


def test_credits_badge_is_a_fragment_for_htmx_and_the_team_page_otherwise(owner_client) -> None:
    client, team, *_ = owner_client
    fragment = client.get(reverse("credits_badge"), **HX).content.decode()
    assert 'id="credits-badge"' in fragment and "<html" not in fragment
    assert ">30<" in fragment
    response = client.get(reverse("credits_badge"))
    assert response.status_code == 302 and response.url == reverse("team_detail", args=[team.pk])


def test_dashboard_lists_the_teams_projects_with_create_rename_archive(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    html = client.get(reverse("dashboard")).content.decode()
    assert "Lighthouse" in html and "2 shots" in html
    response = client.post(reverse("project_create"), {"name": "Teaser"}, **HX)
    created = Project.objects.get(team=team, name="Teaser")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("project_detail", args=[created.pk])
    fragment = client.post(
        reverse("project_rename", args=[project.pk]), {"name": "Harbour", "where": "card"}, **HX
    ).content.decode()
    assert "Harbour" in fragment and "<html" not in fragment
    client.post(reverse("project_archive", args=[project.pk]), {"archived": "1"})
    card = f'id="project-{project.pk}"'
    assert card not in client.get(reverse("dashboard")).content.decode()
    assert card in client.get(reverse("dashboard") + "?archived=1").content.decode()


def test_project_name_errors_are_shown_next_to_the_field(owner_client) -> None:
    client, *_ = owner_client
    html = client.post(reverse("project_create"), {"name": "   "}).content.decode()
    assert "Give the project a name." in _errors_of(html, "name")
    html = client.post(reverse("project_create"), {"name": ""}).content.decode()
    assert "This field is required." in _errors_of(html, "name")


def test_timeline_shows_shots_in_order_and_reorders(owner_client) -> None:
    client, _team, _owner, project, (one, two) = owner_client
    html = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert html.index("One") < html.index("Two")
    assert f'ws-connect="/ws/projects/{project.pk}/"' in html
    fragment = client.post(
        reverse("project_reorder", args=[project.pk]), {"order": [two.pk, one.pk]}, **HX
    ).content.decode()
    assert "<html" not in fragment and fragment.index("Two") < fragment.index("One")
    assert list(project.shots.order_by("position").values_list("title", flat=True)) == [
        "Two",
        "One",
    ]
    response = client.post(reverse("shot_move", args=[two.pk]), {"offset": "1"})
    assert response.status_code == 302
    assert list(project.shots.order_by("position").values_list("pk", flat=True)) == [
        one.pk,
        two.pk,
    ]


def test_duplicate_inserts_after_and_delete_renumbers(owner_client) -> None:
    client, _team, _owner, project, (one, _two) = owner_client
    client.post(reverse("shot_duplicate", args=[one.pk]), **HX)
    titles = list(project.shots.order_by("position").values_list("title", flat=True))
    assert titles == ["One", "One (copy)", "Two"]
    client.post(reverse("shot_delete", args=[one.pk]), **HX)
    assert list(project.shots.order_by("position").values_list("position", "title")) == [
        (0, "One (copy)"),
        (1, "Two"),
    ]


def test_composer_renders_n_variants_with_consecutive_seeds(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    before = ledger.balance(team).available
    response = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"variants": 3, "action": "render", "idempotency_key": "k1"},
    )
    assert response.status_code == 302, _errors_of(response.content.decode(), "prompt")
    shot = Shot.objects.get(project=project, title="Push")
    jobs = list(RenderJob.objects.filter(shot=shot).order_by("seed"))
    assert [j.seed for j in jobs] == [100, 101, 102]
    assert shot.current_job == jobs[0]
    camera = jobs[0].recipe["camera"]
    assert camera["focal_mm"] == 35 and camera["aperture"] == 2
    assert camera["moves"][0] | {"seed": 0} == {
        "kind": "dolly",
        "direction": "in",
        "speed": 0.5,
        "easing": "ease_in_out",
        "seed": 0,
    }
    assert ledger.balance(team).available == before - sum(j.estimate_credits for j in jobs)


def test_plan_limits_are_shown_next_to_their_fields(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    html = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"resolution": 1080, "duration_s": 8, "action": "render"},
    ).content.decode()
    assert "Free plan: up to 720p and 5 s — upgrade for 1080p." in _errors_of(html, "resolution")
    assert "upgrade for longer clips" in _errors_of(html, "duration_s")
    assert not Shot.objects.filter(title="Push").exists()
    page = client.get(reverse("shot_new", args=[project.pk])).content.decode()
    assert re.search(r'<option value="1080" disabled>1080p · upgrade</option>', page)


def test_estimate_names_the_plan_limit_beside_the_field(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    url = reverse("composer_estimate", args=[project.pk])
    fragment = client.get(url, {"resolution": 1080, "duration_s": 2, **HX}, **HX).content.decode()
    assert 'id="limit-resolution"' in fragment and 'hx-swap-oob="true"' in fragment
    assert "upgrade for 1080p" in fragment
    ok = client.get(
        url, {"resolution": 540, "duration_s": 2, "quality": "flash", "variants": 2}, **HX
    )
    assert re.search(r'data-estimate-credits="(\d+)"', ok.content.decode())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "required"),
        ({"mode": "keyframes"}, "end_image", "needs an end frame"),
        ({"mode": "reframe"}, "source_job", "Choose the render to start from"),
        ({"mode": "extend", "loop": "on"}, "loop", "Only text to video and image to video"),
        ({"mode": "i2v"}, "image", "upload an image"),
        ({"mode": "v2v"}, "source_job", "Choose the render to start from"),
        ({"focal_mm": 300}, "focal_mm", "less than or equal to 200"),
        ({"aperture": 0.9}, "aperture", "greater than or equal to 1.2"),
        ({"shutter_deg": 20}, "shutter_deg", "greater than or equal to 45"),
        ({"seed": ""}, "seed", "Enter a seed"),
        ({"variants": 9}, "variants", "less than or equal to 4"),
        ({"move_2": "dolly:out"}, "move_2", "each kind of move once"),
        ({"keyframes": "[{"}, "keyframes", "not valid JSON"),
        (
            {"keyframes": '[{"t": 0, "position": [0,1,0], "look_at": [0,1,0]}]'},
            "keyframes",
            "look_at",
        ),
    ],
)
def test_composer_errors_are_shown_next_to_their_field(owner_client, changes, field, message):
    client, _team, _owner, project, _ = owner_client
    html = client.post(
        reverse("shot_new", args=[project.pk]), COMPOSER | changes | {"action": "save"}
    ).content.decode()
    errors = _errors_of(html, field)
    assert message in errors, f"errors beside {field}: {errors!r}"


def test_edit_loads_the_saved_camera_and_saves_changes(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    client.post(reverse("shot_new", args=[project.pk]), COMPOSER | {"action": "save"})
    shot = Shot.objects.get(title="Push")
    page = client.get(reverse("shot_edit", args=[shot.pk])).content.decode()
    assert 'value="dolly:in" selected' in page
    assert re.search(r'name="focal_mm" value="35(\.0)?"', page)
    response = client.post(
        reverse("shot_edit", args=[shot.pk]), COMPOSER | {"focal_mm": 85, "action": "save"}
    )
    assert response.status_code == 302
    shot.refresh_from_db()
    assert shot.camera.focal_mm == 85 and shot.camera.moves[0].label == "dolly in"


def test_chips_endpoint_offers_each_phrase_and_removes_one(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    url = reverse("composer_parse", args=[project.pk])
    prompt = "a lighthouse at dusk, slow push-in, 35mm f/2, 16:9"
    html = client.get(url, {"prompt": prompt}, **HX).content.decode()
    for label in ("dolly in · slow", "35 mm", "f/2", "16:9"):
        assert label in html
    removed = client.get(url, {"prompt": prompt, "remove": 1}, **HX).content.decode()
    assert 'id="id_prompt"' in removed and 'hx-swap-oob="true"' in removed
    assert "a lighthouse at dusk, slow push-in, f/2, 16:9</textarea>" in removed


def test_other_teams_objects_are_404(owner_client, other_team) -> None:
    client, *_ = owner_client
    project, shot = other_team
    for name, args in [
        ("project_detail", [project.pk]),
        ("project_rename", [project.pk]),
        ("shot_new", [project.pk]),
        ("composer_parse", [project.pk]),
        ("composer_estimate", [project.pk]),
        ("shot_detail", [shot.pk]),
        ("shot_edit", [shot.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in [
        ("project_archive", [project.pk]),
        ("project_reorder", [project.pk]),
        ("shot_move", [shot.pk]),
        ("shot_duplicate", [shot.pk]),
        ("shot_delete", [shot.pk]),
        ("take_reroll", [shot.pk, 1]),
    ]:
        assert client.post(reverse(name, args=args)).status_code == 404, name
    assert Shot.objects.filter(pk=shot.pk).exists()
    assert not Project.objects.get(pk=project.pk).archived


def _render_take(client, project) -> tuple[Shot, RenderJob]:
    client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"action": "render", "idempotency_key": "first"},
    )
    shot = Shot.objects.get(title="Push")
    return shot, shot.jobs.get()


def test_without_an_active_price_book_every_render_says_so_and_spends_nothing(
    owner_client,
) -> None:
    client, team, _owner, project, (one, _two) = owner_client
    shot, take = _render_take(client, project)
    PriceBook.objects.update(is_active=False)
    before = (ledger.balance(team).available, RenderJob.objects.count(), Shot.objects.count())
    said = "Renders cannot be priced right now: no price book is active."

    composer = client.post(
        reverse("shot_new", args=[project.pk]),
        COMPOSER | {"title": "Another", "action": "render", "idempotency_key": "k2"},
    )
    assert composer.status_code == 200 and said in composer.content.decode()
    edit = client.post(
        reverse("shot_edit", args=[one.pk]),
        COMPOSER | {"prompt": "changed", "action": "render", "idempotency_key": "k3"},
    )
    assert edit.status_code == 200 and said in edit.content.decode()
    estimate = client.get(reverse("composer_estimate", args=[project.pk]), COMPOSER, **HX)
    assert said in estimate.content.decode()
    for action, data in (("take_reroll", {}), ("take_promote", {"quality": "pro"})):
        response = client.post(reverse(action, args=[shot.pk, take.pk]), data, follow=True)
        assert said in response.content.decode(), action
    after = (ledger.balance(team).available, RenderJob.objects.count(), Shot.objects.count())
    assert after == before
    one.refresh_from_db()
    assert one.prompt == "a red ball rolls"


@pytest.mark.parametrize(
    ("setup", "change", "message"),
    [
        ("spent", {}, "needs 1 credits and your team has 0"),
        (None, {"prompt": "a beheading at dawn"}, "blocked by the content policy"),
        (None, {"resolution": 1080}, "upgrade for 1080p"),
    ],
)
def test_a_refused_render_leaves_the_shot_as_it_was(owner_client, setup, change, message) -> None:
    client, team, _owner, _project, (one, _two) = owner_client
    if setup == "spent":
        ledger.adjust(team=team, credits=-ledger.balance(team).available, reason="test")
    saved = (one.prompt, one.camera, one.resolution, one.updated_at)
    response = client.post(
        reverse("shot_edit", args=[one.pk]),
        COMPOSER | {"focal_mm": 85, "action": "render", "idempotency_key": "k"} | change,
    )
    assert response.status_code == 200 and message in response.content.decode()
    one.refresh_from_db()
    assert (one.prompt, one.camera, one.resolution, one.updated_at) == saved
    assert not one.jobs.exists()


def test_a_double_submitted_new_shot_is_saved_and_rendered_once(owner_client) -> None:
    client, team, _owner, project, _ = owner_client
    data = COMPOSER | {"variants": 2, "action": "render", "idempotency_key": "double"}
    first = client.post(reverse("shot_new", args=[project.pk]), data)
    second = client.post(reverse("shot_new", args=[project.pk]), data)
    assert first.status_code == second.status_code == 302
    shot = Shot.objects.get(title="Push")
    assert shot.jobs.count() == 2 and ledger.balance(team).held == 2

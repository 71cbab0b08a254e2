"""Every form, upload and URL against hostile input: each refusal is a 4xx or a message
beside its field (or a flash after a redirect), never a 500; and after every refusal
nothing was saved and no credit moved, for the team that asked or any other."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts import services as accounts
from accounts.models import ApiKey, Membership, Team, User
from api.models import Upload
from billing import ledger
from billing.models import CreditAccount, LedgerEntry
from generation.models import RenderBatch, RenderJob
from storyboards import services as storyboards
from storyboards.models import Project, Shot
from tests.factories import team_with_owner
from tests.storyboards.test_views import COMPOSER
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
HUGE = "100000000000000000000"  # past SQLite's and PostgreSQL's 64-bit integers


@dataclass
class World:
    team: Team
    owner: User
    project: Project
    shot: Shot
    job: RenderJob
    theirs_project: Project
    theirs_shot: Shot
    theirs_job: RenderJob
    theirs_key_upload: int
    token: str
    theirs_endpoint: int
    ids: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def world(seeded, small_request) -> World:
    team, owner = team_with_owner(plan_code="free", name="Mine")
    project = storyboards.project_create(team=team, user=owner, name="Lighthouse")
    shot, (job,) = storyboards.shot_render(
        project=project,
        shot=None,
        user=owner,
        request=small_request,
        fields={"prompt": small_request.prompt, "duration_s": 2, "resolution": 540},
    )
    theirs, their_owner = team_with_owner(plan_code="pro", name="Theirs")
    theirs_project = storyboards.project_create(team=theirs, user=their_owner, name="Secret")
    theirs_shot, (theirs_job,) = storyboards.shot_render(
        project=theirs_project,
        shot=None,
        user=their_owner,
        request=small_request,
        fields={"prompt": "their shot"},
    )
    _, their_token = accounts.api_key_create(
        team=theirs, actor=their_owner, name="k", scopes=["read", "render"]
    )
    their_upload = Client().post(
        "/api/v1/uploads", {"file": _png()}, headers={"Authorization": f"Bearer {their_token}"}
    )
    endpoint = WebhookEndpoint.objects.create(
        team=theirs, url="https://example.com/hook", created_by=their_owner
    )
    _, token = accounts.api_key_create(team=team, actor=owner, name="k", scopes=["read", "render"])
    return World(
        team=team,
        owner=owner,
        project=project,
        shot=shot,
        job=job,
        theirs_project=theirs_project,
        theirs_shot=theirs_shot,
        theirs_job=theirs_job,
        theirs_key_upload=their_upload.json()["id"],
        token=token,
        theirs_endpoint=endpoint.pk,
    )


# --- files --------------------------------------------------------------------------------------


def _png(size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format=fmt)
    return SimpleUploadedFile(f"frame.{fmt.lower()}", buffer.getvalue())


def _animated_gif() -> SimpleUploadedFile:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return SimpleUploadedFile("moving.gif", buffer.getvalue())


def _file(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
NESTED = "[" * 5000 + "]" * 5000
FAR_KEYFRAMES = json.dumps(
    [
        {"t": 0, "position": [0, 1.6, -6], "look_at": [0, 1, 0]},
        {"t": 1e300, "position": [0, 1.6, -5], "look_at": [0, 1, 0]},
    ]
)
MANY_KEYFRAMES = json.dumps(
    [{"t": i / 10, "position": [0, 1.6, -6 + i / 10], "look_at": [0, 1, 0]} for i in range(40)]
)


# --- cases --------------------------------------------------------------------------------------

Path = Callable[[World], str]


@dataclass(frozen=True)
class Case:
    """``expect``: "404", "4xx", "field:<name>" (a message beside that field), "text:<text>"
    (the form again, saying it), "flash:<text>" (a redirect whose page says it), "api" (a
    4xx problem document); "anon-" before one: asked without logging in."""

    method: str
    path: Path
    data: dict[str, Any] | str | None = None
    expect: str = "4xx"
    files: Callable[[], dict[str, Any]] | None = None
    htmx: bool = False


def composer(changes: dict[str, Any], expect: str, files=None) -> Case:
    return Case(
        "post",
        lambda w: f"/projects/{w.project.pk}/shots/new/",
        COMPOSER | {"action": "render"} | changes,
        expect,
        files,
    )


def edit(changes: dict[str, Any], expect: str) -> Case:
    return Case(
        "post",
        lambda w: f"/shots/{w.shot.pk}/edit/",
        COMPOSER | {"action": "render"} | changes,
        expect,
    )


API_SMALL = {
    "prompt": "a yellow ball",
    "quality": "flash",
    "resolution": 540,
    "duration_s": 2,
    "fps": 12,
}


def api(method: str, path: Path, body: Any = None, files=None) -> Case:
    return Case(method, path, body, "api", files)


CASES: dict[str, Case] = {
    # The composer: every field, each a message beside it.
    "prompt-empty": composer({"prompt": ""}, "field:prompt"),
    "prompt-null-char": composer({"prompt": "a\x00b"}, "field:prompt"),
    "prompt-too-long": composer({"prompt": "x" * 5000}, "field:prompt"),
    "mode-unknown": composer({"mode": "hologram"}, "field:mode"),
    "keyframes-no-end-frame": composer(
        {"mode": "keyframes"}, "field:end_image", lambda: {"image": _png()}
    ),
    "keyframes-svg-end-frame": composer(
        {"mode": "keyframes"},
        "field:end_image",
        lambda: {"image": _png(), "end_image": _file("b.png", SVG)},
    ),
    "loop-on-a-restyle": composer({"mode": "v2v", "loop": "on"}, "field:loop"),
    "reframe-no-source": composer({"mode": "reframe", "aspect": "9:16"}, "field:source_job"),
    "i2v-no-image": composer({"mode": "i2v"}, "field:image"),
    "i2v-svg": composer({"mode": "i2v"}, "field:image", lambda: {"image": _file("a.png", SVG)}),
    "i2v-animated-gif": composer(
        {"mode": "i2v"}, "field:image", lambda: {"image": _animated_gif()}
    ),
    "i2v-text-as-png": composer(
        {"mode": "i2v"}, "field:image", lambda: {"image": _file("a.png", b"hello")}
    ),
    "i2v-truncated-png": composer(
        {"mode": "i2v"}, "field:image", lambda: {"image": _file("a.png", _png().read()[:80])}
    ),
    "i2v-too-wide": composer({"mode": "i2v"}, "field:image", lambda: {"image": _png((9000, 16))}),
    "i2v-bmp": composer({"mode": "i2v"}, "field:image", lambda: {"image": _png(fmt="BMP")}),
    "i2v-tiny": composer({"mode": "i2v"}, "field:image", lambda: {"image": _png((4, 4))}),
    "restyle-their-render": Case(
        "post",
        lambda w: f"/projects/{w.project.pk}/shots/new/",
        None,  # built per world below
        "field:source_job",
    ),
    "restyle-source-not-a-number": composer(
        {"mode": "v2v", "source_job": "abc"}, "field:source_job"
    ),
    "strength-past-one": composer({"mode": "v2v", "strength": 5}, "field:strength"),
    "strength-nan": composer({"strength": "nan"}, "field:strength"),
    "duration-zero": composer({"duration_s": 0}, "field:duration_s"),
    "duration-huge": composer({"duration_s": HUGE}, "field:duration_s"),
    "duration-float": composer({"duration_s": "1e3"}, "field:duration_s"),
    "fps-odd": composer({"fps": 7}, "field:fps"),
    "resolution-above-plan": composer({"resolution": 2160}, "field:resolution"),
    "resolution-text": composer({"resolution": "abc"}, "field:resolution"),
    "quality-unknown": composer({"quality": "ultra"}, "field:quality"),
    "seed-huge": composer({"seed_mode": "fixed", "seed": HUGE}, "field:seed"),
    "seed-negative": composer({"seed_mode": "fixed", "seed": -1}, "field:seed"),
    "seed-mode-unknown": composer({"seed_mode": "lucky"}, "field:seed_mode"),
    "variants-zero": composer({"variants": 0}, "field:variants"),
    "variants-many": composer({"variants": 99}, "field:variants"),
    "focal-inf": composer({"focal_mm": "inf"}, "field:focal_mm"),
    "focal-nan": composer({"focal_mm": "nan"}, "field:focal_mm"),
    "aperture-negative": composer({"aperture": -3}, "field:aperture"),
    "focus-huge": composer({"focus_m": "1e308"}, "field:focus_m"),
    "shutter-past-360": composer({"shutter_deg": 720}, "field:shutter_deg"),
    "aspect-unknown": composer({"aspect": "3:1"}, "field:aspect"),
    "move-unknown": composer({"move_1": "fly:up"}, "field:move_1"),
    "move-speed-huge": composer({"move_1_speed": "1e9"}, "field:move_1"),
    "move-easing-unknown": composer({"move_1_easing": "bounce"}, "field:move_1"),
    "keyframes-nested": composer({"keyframes": NESTED}, "field:keyframes"),
    "keyframes-far-time": composer({"keyframes": FAR_KEYFRAMES}, "field:keyframes"),
    "keyframes-too-many": composer({"keyframes": MANY_KEYFRAMES}, "field:keyframes"),
    "keyframes-object": composer({"keyframes": "{}"}, "field:keyframes"),
    "keyframes-bad-time": composer({"keyframes": '[{"t": "x"}]'}, "field:keyframes"),
    "interpolation-unknown": composer({"interpolation": "cubic"}, "field:interpolation"),
    "title-too-long": composer({"title": "t" * 500}, "field:title"),
    "edit-prompt-empty": edit({"prompt": ""}, "field:prompt"),
    "edit-their-shot": Case("post", lambda w: f"/shots/{w.theirs_shot.pk}/edit/", COMPOSER, "404"),
    "composer-their-project": Case(
        "post", lambda w: f"/projects/{w.theirs_project.pk}/shots/new/", COMPOSER, "404"
    ),
    "composer-huge-project-id": Case(
        "post", lambda w: f"/projects/{HUGE}/shots/new/", COMPOSER, "404"
    ),
    # The live estimate (a GET): the service's objection beside its field.
    "estimate-above-plan": Case(
        "get",
        lambda w: f"/projects/{w.project.pk}/shots/estimate/",
        COMPOSER | {"resolution": 2160},
        "flash:upgrade",
        htmx=True,
    ),
    # Projects and the timeline.
    "project-name-empty": Case(
        "post", lambda w: "/projects/new/", {"name": "   "}, "field:name", htmx=True
    ),
    "project-name-too-long": Case(
        "post", lambda w: "/projects/new/", {"name": "n" * 500}, "field:name"
    ),
    "project-name-null-char": Case(
        "post", lambda w: "/projects/new/", {"name": "a\x00"}, "field:name"
    ),
    "project-rename-empty": Case(
        "post",
        lambda w: f"/projects/{w.project.pk}/rename/",
        {"name": ""},
        "text:This field is required",
    ),
    "project-rename-theirs": Case(
        "post", lambda w: f"/projects/{w.theirs_project.pk}/rename/", {"name": "x"}, "404"
    ),
    "project-archive-theirs": Case(
        "post", lambda w: f"/projects/{w.theirs_project.pk}/archive/", {}, "404"
    ),
    "project-reorder-theirs": Case(
        "post", lambda w: f"/projects/{w.theirs_project.pk}/reorder/", {"order": ["1"]}, "404"
    ),
    "shot-move-theirs": Case(
        "post", lambda w: f"/shots/{w.theirs_shot.pk}/move/", {"offset": 1}, "404"
    ),
    "shot-duplicate-theirs": Case(
        "post", lambda w: f"/shots/{w.theirs_shot.pk}/duplicate/", {}, "404"
    ),
    "shot-delete-theirs": Case("post", lambda w: f"/shots/{w.theirs_shot.pk}/delete/", {}, "404"),
    "shot-huge-id": Case("get", lambda w: f"/shots/{HUGE}/", None, "404"),
    "project-huge-id": Case("get", lambda w: f"/projects/{HUGE}/", None, "404"),
    # Takes.
    "promote-to-unknown-quality": Case(
        "post",
        lambda w: f"/shots/{w.shot.pk}/takes/{w.job.pk}/promote/",
        {"quality": "ultra"},
        "flash:Promote to Standard or Pro",
    ),
    "reroll-their-take": Case(
        "post", lambda w: f"/shots/{w.shot.pk}/takes/{w.theirs_job.pk}/reroll/", {}, "404"
    ),
    "circle-huge-take": Case(
        "post", lambda w: f"/shots/{w.shot.pk}/takes/{HUGE}/circle/", {}, "404"
    ),
    # The renders form and pages.
    "renders-post": Case("post", lambda w: "/renders/", {"prompt": "a lamp", "seed": HUGE}, "4xx"),
    "render-their-job": Case("get", lambda w: f"/renders/{w.theirs_job.pk}/", None, "404"),
    "render-huge-id": Case("get", lambda w: f"/renders/{HUGE}/status/", None, "404"),
    "cancel-their-job": Case("post", lambda w: f"/renders/{w.theirs_job.pk}/cancel/", {}, "404"),
    "artifact-kind-traversal": Case(
        "get", lambda w: f"/renders/{w.job.pk}/files/..%2F..%2Fsecret_key/", None, "404"
    ),
    "artifact-their-video": Case(
        "get", lambda w: f"/renders/{w.theirs_job.pk}/files/video/", None, "404"
    ),
    # Accounts and teams.
    "signup-bad-email": Case(
        "post",
        lambda w: "/accounts/signup/",
        {"email": "nope", "password": "lens-flare-1979"},
        "anon-field:email",
    ),
    "signup-numeric-password": Case(
        "post",
        lambda w: "/accounts/signup/",
        {"email": "a@b.co", "password": "12345678"},
        "anon-field:password",
    ),
    "signup-long-email": Case(
        "post",
        lambda w: "/accounts/signup/",
        {"email": "a" * 250 + "@example.com", "password": "lens-flare-1979"},
        "anon-field:email",
    ),
    "login-empty": Case(
        "post",
        lambda w: "/accounts/login/",
        {"username": "", "password": ""},
        "anon-field:username",
    ),
    "reset-bad-email": Case(
        "post", lambda w: "/accounts/password_reset/", {"email": "x"}, "anon-field:email"
    ),
    "team-their-page": Case("get", lambda w: f"/teams/{w.theirs_project.team_id}/", None, "404"),
    "team-their-ledger": Case(
        "get", lambda w: f"/teams/{w.theirs_project.team_id}/ledger/", None, "404"
    ),
    "team-switch-theirs": Case("post", lambda w: "/teams/switch/", {"team": "{their_team}"}, "404"),
    "team-switch-not-a-number": Case("post", lambda w: "/teams/switch/", {"team": "x"}, "4xx"),
    "member-add-unknown-email": Case(
        "post",
        lambda w: f"/teams/{w.team.pk}/members/add/",
        {"email": "nobody@example.com", "role": "member"},
        "field:email",
    ),
    "api-key-no-name": Case(
        "post",
        lambda w: f"/teams/{w.team.pk}/api-keys/",
        {"name": "", "scopes": ["read"]},
        "field:name",
    ),
    "api-key-unknown-scope": Case(
        "post",
        lambda w: f"/teams/{w.team.pk}/api-keys/",
        {"name": "x", "scopes": ["root"]},
        "field:scopes",
    ),
    "webhook-javascript-url": Case(
        "post",
        lambda w: f"/teams/{w.team.pk}/webhooks/",
        {"url": "javascript:alert(1)"},
        "field:url",
    ),
    "webhook-private-address": Case(
        "post",
        lambda w: f"/teams/{w.team.pk}/webhooks/",
        {"url": "http://127.0.0.1:6379/"},
        "field:url",
    ),
    "webhook-delete-theirs": Case(
        "post", lambda w: f"/teams/{w.team.pk}/webhooks/{w.theirs_endpoint}/delete/", {}, "404"
    ),
    # The API.
    "api-keyframes-nested": api(
        "post", lambda w: "/api/v1/generations", '{"prompt": "x", "camera": ' + NESTED + "}"
    ),
    "api-not-json": api("post", lambda w: "/api/v1/generations", "{prompt: x"),
    "api-seed-huge": api("post", lambda w: "/api/v1/generations", API_SMALL | {"seed": 10**20}),
    "api-aspect-unknown": api(
        "post", lambda w: "/api/v1/generations", API_SMALL | {"aspect": "3:1"}
    ),
    "api-prompt-empty": api("post", lambda w: "/api/v1/generations", API_SMALL | {"prompt": ""}),
    "api-focal-infinity": api(
        "post", lambda w: "/api/v1/generations", '{"prompt": "x", "camera": {"focal_mm": Infinity}}'
    ),
    "api-keyframes-far": api(
        "post",
        lambda w: "/api/v1/generations",
        API_SMALL | {"camera": {"keyframes": json.loads(FAR_KEYFRAMES)}},
    ),
    "api-their-upload": api(
        "post",
        lambda w: "/api/v1/generations",
        API_SMALL | {"keyframes": {"start": {"upload_id": "{their_upload}"}}},
    ),
    "api-upload-svg": api(
        "post", lambda w: "/api/v1/uploads", None, lambda: {"file": _file("a.png", SVG)}
    ),
    "api-upload-animated": api(
        "post", lambda w: "/api/v1/uploads", None, lambda: {"file": _animated_gif()}
    ),
    "api-upload-empty": api(
        "post", lambda w: "/api/v1/uploads", None, lambda: {"file": _file("a.png", b"")}
    ),
    "api-generation-huge-id": api("get", lambda w: f"/api/v1/generations/{HUGE}"),
    "api-project-name-empty": api("post", lambda w: "/api/v1/projects", {"name": " "}),
    "api-shot-in-their-project": api(
        "post", lambda w: f"/api/v1/projects/{w.theirs_project.pk}/shots", {"prompt": "x"}
    ),
}


def _snapshot() -> list[Any]:
    """Every row a refusal must not touch (an API key's last use aside)."""
    rows: list[Any] = []
    for model in (
        User, Team, Membership, Project, Shot, RenderJob, RenderBatch, LedgerEntry,
        CreditAccount, ApiKey, WebhookEndpoint, Upload,
    ):  # fmt: skip
        values = list(model.objects.order_by("pk").values())
        for row in values:
            row.pop("last_used_at", None)
            row.pop("last_login", None)
        rows.append((model.__name__, values))
    return rows


def _fill(value: Any, world: World) -> Any:
    """Put the other team's ids into a body (they exist only once the world is built)."""
    text = json.dumps(value)
    text = text.replace('"{their_upload}"', str(world.theirs_key_upload))
    text = text.replace('"{their_team}"', f'"{world.theirs_project.team_id}"')
    return json.loads(text)


def _request(case: Case, world: World, client: Client) -> Any:
    path = case.path(world)
    data = case.data
    if isinstance(data, dict):
        data = _fill(data, world)
    if case.expect == "api":
        headers = {"Authorization": f"Bearer {world.token}"}
        if case.files:
            return client.post(path, case.files(), headers=headers)
        if case.method == "get":
            return client.get(path, headers=headers)
        body = data if isinstance(data, str) else json.dumps(data)
        return client.post(path, body, content_type="application/json", headers=headers)
    extra = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    if case.method == "get":
        return client.get(path, data or {}, **extra)
    payload = dict(data or {})
    if case.files:
        payload |= case.files()
    return client.post(path, payload, **extra)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused_clearly_and_changes_nothing(world: World, name: str) -> None:
    case = CASES[name]
    if name == "restyle-their-render":
        case = composer({"mode": "v2v", "source_job": world.theirs_job.pk}, "field:source_job")
    anonymous = case.expect.startswith("anon-")
    expect = case.expect.removeprefix("anon-")
    client = Client(raise_request_exception=False)
    if not anonymous and expect != "api":
        client.force_login(world.owner)
    before = _snapshot()

    response = _request(case, world, client)

    status = response.status_code
    assert status < 500, f"{name}: {status}"
    html = response.content.decode(errors="replace")
    if expect == "404":
        assert status == 404, f"{name}: {status}"
    elif expect in ("4xx", "api"):
        assert 400 <= status < 500, f"{name}: {status} {html[:300]}"
        if expect == "api":
            assert response["Content-Type"].startswith("application/problem+json"), name
            assert response.json()["detail"], name
    elif expect.startswith("field:"):
        field_name = expect.split(":", 1)[1]
        assert status in (200, 409, 422), f"{name}: {status}"
        assert f'id="id_{field_name}-errors"' in html, f"{name}: no message beside {field_name}"
    elif expect.startswith("text:"):
        assert status in (200, 422), f"{name}: {status}"
        assert expect.split(":", 1)[1] in html, name
    elif expect.startswith("flash:"):
        if status in (301, 302):
            html = client.get(response.url).content.decode()
        assert expect.split(":", 1)[1] in html, name
    assert _snapshot() == before, f"{name} changed stored rows"
    assert ledger.check_ledger() == []


def test_the_suite_covers_sixty_cases_and_every_kind() -> None:
    assert len(CASES) >= 60
    kinds = {c.expect.split(":")[0] for c in CASES.values()}
    assert {"404", "4xx", "field", "flash", "api", "anon-field"} <= kinds

"""The composer follows the worker's backend: what it cannot render is disabled with the
reason beside it, its longest clip bounds the duration, and the render service refuses the
same things, beside the same fields, with nothing charged."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing import ledger
from generation.models import RenderJob
from storyboards.models import Shot
from tests.storyboards.test_views import COMPOSER

pytestmark = pytest.mark.django_db


def _mode_options(html: str) -> dict[str, tuple[bool, str]]:
    """mode value -> (disabled, the note beside it)."""
    options = {}
    for block in re.findall(r'<label class="mode-option.*?</label>', html, re.S):
        value = re.search(r'name="mode" value="([^"]+)"', block)[1]
        note = re.search(r'<span class="mode-note faint">(.*?)</span>', block, re.S)
        options[value] = (" disabled" in block, note[1].strip() if note else "")
    return options


def _errors_of(html: str, field: str) -> str:
    match = re.search(rf'id="id_{field}-errors"[^>]*>(.*?)</ul>', html, re.S)
    return match[1] if match else ""


def test_the_builtin_model_offers_every_mode_the_studio_takes(owner_client) -> None:
    client, _team, _owner, project, _ = owner_client
    html = client.get(reverse("shot_new", args=[project.pk])).content.decode()
    options = _mode_options(html)
    assert {m for m, (off, _) in options.items() if not off} == {
        "t2v", "i2v", "v2v", "extend", "keyframes", "reframe",
    }  # fmt: skip
    assert not any(note for _, note in options.values())
    assert "model: 29 s per render" in html  # 720 frames at 24 fps
    assert 'id="camera-route-note"' not in html


def test_ltx_disables_restyle_and_bounds_the_duration_saying_why(owner_client, use_backend) -> None:
    client, team, _owner, project, _ = owner_client
    use_backend("ltx-video")
    html = client.get(reverse("shot_new", args=[project.pk])).content.decode()
    options = _mode_options(html)
    assert options["v2v"] == (
        True,
        "LTX-Video conditions on whole frames; restyling a clip is offered on Wan 2.1.",
    )
    assert not options["t2v"][0] and not options["i2v"][0] and not options["extend"][0]
    assert "model: 1 s per render" in html
    assert re.search(r'name="duration_s"[^>]*max="1"', html)

    available = ledger.balance(team).available
    for changes, field, message in [
        ({"mode": "v2v"}, "mode", "Restyle: LTX-Video conditions on whole frames"),
        ({"duration_s": 2}, "duration_s", "renders at most 1 s at a time"),
    ]:
        response = client.post(
            reverse("shot_new", args=[project.pk]),
            COMPOSER | changes | {"action": "render", "idempotency_key": field},
        )
        assert message in _errors_of(response.content.decode(), field), field
    assert not RenderJob.objects.exists() and not Shot.objects.filter(title="Push").exists()
    assert ledger.balance(team).available == available


def test_a_model_without_a_camera_input_says_the_camera_goes_into_words(
    owner_client, use_backend
) -> None:
    client, _team, _owner, project, _ = owner_client
    use_backend("wan2.2-5b")
    html = client.get(reverse("shot_new", args=[project.pk])).content.decode()
    assert re.search(r'id="camera-route-note">Camera moves are described in the prompt', html)
    options = _mode_options(html)
    assert options["extend"] == (
        True,
        "Extension needs a VACE or LTX model; Wan 2.2 5B has neither.",
    )

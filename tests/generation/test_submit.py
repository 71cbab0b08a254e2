from __future__ import annotations

from dataclasses import replace

import pytest

from billing import ledger
from billing.models import LedgerEntry
from generation import lifecycle, requests
from generation.models import IllegalTransition, RenderJob
from generation.requests import RenderRejected
from moderation import services as moderation
from moderation.models import ModerationDecision, ModerationTerm
from tests.factories import submit_one, team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")


def _snapshot(team) -> tuple:
    account = ledger.balance(team)
    account.refresh_from_db()
    return (
        account.monthly,
        account.topup,
        account.held,
        LedgerEntry.objects.filter(team=team).count(),
    )


def test_submit_reserves_the_estimate_and_freezes_the_recipe(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    assert job.state == RenderJob.State.QUEUED
    assert job.estimate_credits == 1  # 2 s of 540p Flash
    assert job.reservation.credits == job.estimate_credits
    assert ledger.balance(team).held == job.estimate_credits
    recipe = job.recipe
    assert recipe["seed"] == 7 and recipe["camera"]["focal_mm"] == 35.0
    assert recipe["camera"]["moves"][0] == {
        "kind": "dolly", "direction": "in", "speed": 1.0, "easing": "linear", "seed": 0,
    }  # fmt: skip
    assert recipe["camera"]["aspect"] == "16:9" and recipe["model_version"] == "builtin-tiny"


def test_a_random_seed_is_chosen_and_recorded_when_none_is_given(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=replace(small_request, seed=None))
    assert 0 <= job.seed < 2**31 and job.recipe["seed"] == job.seed


def test_higher_plans_get_a_better_queue_priority(small_request) -> None:
    free, free_owner = team_with_owner(plan_code="free")
    pro, pro_owner = team_with_owner(plan_code="pro")
    free_job = submit_one(team=free, user=free_owner, request=small_request)
    pro_job = submit_one(team=pro, user=pro_owner, request=small_request)
    assert pro_job.priority < free_job.priority  # Redis serves priority 0 first


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"resolution": 1080}, "resolution", "Free plan: up to 720p and 5 s — upgrade for 1080p"),
        ({"duration_s": 8}, "duration_s", "Free plan: clips up to 5 s — upgrade for longer"),
        ({"commercial": True}, "commercial", "no commercial licence"),
        ({"fps": 29}, "fps", "Frame rate must be one of"),
        ({"prompt": "   "}, "prompt", "prompt is empty"),
        ({"mode": "keyframes"}, "image", "needs a start frame"),
        ({"mode": "reframe"}, "source_job", "finished render of your team"),
        ({"loop": True, "mode": "reframe"}, "loop", "can loop"),
        ({"mode": "i2v"}, "image", "needs a reference frame"),
        ({"mode": "v2v", "source_job_id": 999}, "source_job", "finished render of your team"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message_and_cost_nothing(
    small_request, change: dict, field: str, message: str
) -> None:
    team, owner = team_with_owner(plan_code="free")
    before = _snapshot(team)
    with pytest.raises(RenderRejected, match=message) as info:
        submit_one(team=team, user=owner, request=replace(small_request, **change))
    assert info.value.field == field
    assert _snapshot(team) == before
    assert not RenderJob.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"focal_mm": 9}, "focal length must be 14–200 mm"),
        ({"moves": [{"kind": "barrel roll"}]}, "camera move must be one of"),
        ({"aspect": "3:2"}, "aspect ratio must be one of"),
        (["not", "an", "object"], "send an object"),
    ],
)
def test_a_camera_from_outside_is_checked_before_it_becomes_a_spec(data, message) -> None:
    # The forms build a CameraSpec themselves; data from elsewhere (a recipe, the API) is
    # refused with the field it concerns.
    with pytest.raises(RenderRejected, match=message) as info:
        requests.camera_from_data(data)
    assert info.value.field == "camera"


def test_paid_plans_allow_what_free_refuses(small_request) -> None:
    team, owner = team_with_owner(plan_code="standard")
    job = submit_one(
        team=team,
        user=owner,
        request=replace(small_request, resolution=1080, duration_s=8, commercial=True),
    )
    assert job.estimate_credits == 6  # ceil(10 * 8/5 * 1/3)


def test_a_blocked_prompt_spends_nothing_says_why_and_is_audited(small_request) -> None:
    team, owner = team_with_owner()
    before = _snapshot(team)
    with pytest.raises(moderation.ContentBlocked, match=r"Graphic violence.*Nothing was charged"):
        submit_one(
            team=team, user=owner, request=replace(small_request, prompt="a GORE-soaked hallway")
        )
    assert _snapshot(team) == before
    decision = ModerationDecision.objects.get(team=team)
    assert decision.blocked and decision.matched == [["gore", "Graphic violence"]]


def test_the_policy_matches_whole_words_and_admins_can_switch_terms_off(small_request) -> None:
    team, owner = team_with_owner()
    # "Gorey Street" is not "gore": whole words only.
    submit_one(
        team=team, user=owner, request=replace(small_request, prompt="a tram on Gorey Street")
    )
    ModerationTerm.objects.filter(phrase="nude").update(is_active=False)
    submit_one(
        team=team, user=owner, request=replace(small_request, prompt="a nude-coloured teapot")
    )
    assert RenderJob.objects.filter(team=team).count() == 2


def test_insufficient_credits_refuse_without_creating_a_job(small_request) -> None:
    team, owner = team_with_owner(plan_code="free")
    ledger.adjust(team=team, credits=-30, reason="spent elsewhere")
    before = _snapshot(team)
    with pytest.raises(ledger.InsufficientCredits, match="needs 1 credits and your team has 0"):
        submit_one(team=team, user=owner, request=small_request)
    assert _snapshot(team) == before
    assert not RenderJob.objects.exists()


def test_the_same_idempotency_key_makes_one_job(small_request) -> None:
    team, owner = team_with_owner()
    first = submit_one(team=team, user=owner, request=small_request, idempotency_key="click-1")
    second = submit_one(team=team, user=owner, request=small_request, idempotency_key="click-1")
    assert first.pk == second.pk
    assert RenderJob.objects.count() == 1 and ledger.balance(team).held == first.estimate_credits


def test_illegal_transitions_raise(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=small_request)
    with pytest.raises(IllegalTransition, match="A queued job cannot become encoding"):
        lifecycle.render_job_encoding(job_id=job.pk)
    with pytest.raises(IllegalTransition, match="cannot become succeeded"):
        job.check_transition(RenderJob.State.SUCCEEDED)


def test_cancelling_a_queued_job_releases_its_credits_at_once(small_request) -> None:
    team, owner = team_with_owner()
    before = _snapshot(team)[:3]
    job = submit_one(team=team, user=owner, request=small_request)
    job = lifecycle.render_job_cancel(job=job)
    assert job.state == RenderJob.State.CANCELLED and "refunded" in job.error_message
    assert _snapshot(team)[:3] == before
    # The worker's later delivery of that message does nothing.
    assert lifecycle.render_job_claim(job_id=job.pk, worker="w") is None
    assert ledger.check_ledger() == []

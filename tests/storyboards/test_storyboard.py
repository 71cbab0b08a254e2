"""Transitions, dependencies and "Render storyboard", end to end through the tiny engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from billing import ledger
from generation import execution
from generation.engine.camera import CameraMove, CameraSpec
from generation.models import RenderJob
from generation.vocabulary import Mode
from storyboards import services
from storyboards.models import Project, Shot, Transition
from storyboards.planning import auto_transition, storyboard_plan
from storyboards.services import StoryboardRejected
from tests.factories import team_with_owner

State = RenderJob.State
DOLLY = CameraSpec(focal_mm=35, moves=(CameraMove.make("dolly", "in"),))
BASE = {"duration_s": 2, "fps": 12, "resolution": 540, "quality": "flash", "camera": DOLLY}


def _shot(prompt: str, camera: CameraSpec = DOLLY) -> Shot:
    return Shot(prompt=prompt, camera=camera)


def test_auto_picks_continue_for_the_same_subject_and_says_why() -> None:
    kind, reason = auto_transition(
        _shot("a lighthouse on a cliff at dusk"), _shot("the lighthouse on the cliff, waves"), DOLLY
    )
    assert kind == Transition.CONTINUE
    assert "lighthouse" in reason and "last frame" in reason


def test_auto_picks_a_crossfade_when_time_passes() -> None:
    kind, reason = auto_transition(
        _shot("a lighthouse on a cliff"), _shot("years later, the lighthouse in ruins"), DOLLY
    )
    assert kind == Transition.CROSSFADE and "later" in reason


def test_auto_picks_a_match_cut_for_other_scenes_framed_alike() -> None:
    kind, reason = auto_transition(
        _shot("a red ball rolls across a checker floor"),
        _shot("the full moon over a dark sea"),
        DOLLY,
    )
    assert kind == Transition.MATCH_CUT and "35 mm" in reason


def test_auto_cuts_to_a_new_subject_with_another_camera() -> None:
    pan = CameraSpec(focal_mm=85, moves=(CameraMove.make("pan", "left"),))
    kind, reason = auto_transition(
        _shot("a red ball rolls across a checker floor"), _shot("the full moon", pan), DOLLY
    )
    assert kind == Transition.CUT and reason


def test_a_match_cut_renders_with_the_previous_shots_camera() -> None:
    first, second = _shot("a red ball"), _shot("a blue cube", CameraSpec(focal_mm=85))
    second.transition = Transition.MATCH_CUT
    plans = storyboard_plan([first, second])
    assert plans[1].camera == DOLLY and plans[1].depends_on is None


@pytest.fixture
def board(seeded):
    """Five shots on a Standard team; shot 3 continues shot 2."""
    team, owner = team_with_owner(plan_code="standard")
    project = services.project_create(team=team, user=owner, name="Coast")
    prompts = [
        "a red ball on a checker floor",
        "a lighthouse on a cliff",
        "the lighthouse lamp turns",
        "a boat at sea",
        "a gull on a post",
    ]
    shots = [services.shot_create(project=project, fields=BASE | {"prompt": p}) for p in prompts]
    services.shot_set_transition(shot=shots[2], transition=Transition.CONTINUE)
    return SimpleNamespace(team=team, owner=owner, project=project, shots=shots)


def _run(jobs: list[RenderJob]) -> None:
    for job in jobs:
        assert execution.render_job_execute(job.pk) == State.SUCCEEDED, job.error_message


def _statuses(project: Project) -> list[str]:
    return [p.status for p in services.project_plan(project)]


@pytest.mark.django_db(transaction=True)
def test_editing_shot_two_rerenders_exactly_shots_two_and_three(board) -> None:
    first = services.storyboard_render(
        project=board.project, user=board.owner, idempotency_key="a" * 32
    )
    assert [j.shot_id for j in first] == [s.pk for s in board.shots]
    assert first[2].mode == Mode.EXTEND and first[2].source_job_id == first[1].pk
    _run(first)
    assert _statuses(board.project) == ["current"] * 5

    services.shot_update(shot=board.shots[1], fields={"prompt": "a lighthouse on a cliff in fog"})
    assert _statuses(board.project) == ["current", "stale", "stale", "current", "current"]
    estimate = services.storyboard_estimate(project=board.project)
    assert estimate.shots == [2, 3] and estimate.credits > 0
    assert estimate.credits == sum(j.estimate_credits for j in first[1:3])

    again = services.storyboard_render(
        project=board.project, user=board.owner, idempotency_key="b" * 32
    )
    assert [j.shot_id for j in again] == [board.shots[1].pk, board.shots[2].pk]
    assert again[1].source_job_id == again[0].pk
    assert sum(j.estimate_credits for j in again) == estimate.credits
    _run(again)
    assert _statuses(board.project) == ["current"] * 5
    assert services.storyboard_estimate(project=board.project).count == 0


@pytest.mark.django_db(transaction=True)
def test_a_continuation_waits_for_the_take_it_continues(board) -> None:
    jobs = services.storyboard_render(project=board.project, user=board.owner)
    second, third = jobs[1], jobs[2]
    assert execution.render_job_execute(third.pk) == "waiting"
    third.refresh_from_db()
    assert third.state == State.QUEUED
    _run([second, third])
    third.refresh_from_db()
    # The extension starts from the last frame of the take it continues.
    assert third.conformance["seam_ratio"] < 3


@pytest.mark.django_db(transaction=True)
def test_a_continuation_of_a_failed_take_fails_refunded(board) -> None:
    jobs = services.storyboard_render(project=board.project, user=board.owner)
    from generation import lifecycle

    lifecycle.render_job_fail(job_id=jobs[1].pk, message="Broken.")
    assert execution.render_job_execute(jobs[2].pk) == State.FAILED
    jobs[2].refresh_from_db()
    assert "did not finish" in jobs[2].error_message
    assert jobs[2].reservation.state != "held"


@pytest.mark.django_db
def test_the_estimate_reserves_nothing_and_a_replay_renders_once(board) -> None:
    before = ledger.balance(board.team)
    estimate = services.storyboard_estimate(project=board.project)
    assert estimate.shots == [1, 2, 3, 4, 5] and not estimate.error
    assert ledger.balance(board.team) == before and not RenderJob.objects.exists()
    jobs = services.storyboard_render(
        project=board.project, user=board.owner, idempotency_key="k" * 32
    )
    replay = services.storyboard_render(
        project=board.project, user=board.owner, idempotency_key="k" * 32
    )
    assert [j.pk for j in replay] == [j.pk for j in jobs]
    assert ledger.balance(board.team).held == estimate.credits


@pytest.mark.django_db
def test_a_storyboard_the_balance_cannot_cover_reserves_nothing(board) -> None:
    needed = services.storyboard_estimate(project=board.project).credits
    ledger.adjust(
        team=board.team, credits=needed - 1 - ledger.balance(board.team).available, reason="test"
    )
    estimate = services.storyboard_estimate(project=board.project)
    assert estimate.short and estimate.credits == needed
    with pytest.raises(ledger.InsufficientCredits):
        services.storyboard_render(project=board.project, user=board.owner)
    assert not RenderJob.objects.exists() and ledger.balance(board.team).held == 0
    assert all(s.current_job_id is None for s in Shot.objects.all())


@pytest.mark.django_db
def test_nothing_to_render_is_said_plainly(board) -> None:
    services.storyboard_render(project=board.project, user=board.owner)
    with pytest.raises(StoryboardRejected, match="nothing to render"):
        services.storyboard_render(project=board.project, user=board.owner)


@pytest.mark.django_db
def test_transitions_are_checked(board) -> None:
    with pytest.raises(StoryboardRejected, match="first shot"):
        services.shot_set_transition(shot=board.shots[0], transition=Transition.CONTINUE)
    with pytest.raises(StoryboardRejected, match="half of the shorter shot"):
        services.shot_set_transition(
            shot=board.shots[3], transition=Transition.CROSSFADE, seconds=1.5
        )
    with pytest.raises(StoryboardRejected, match="Choose"):
        services.shot_set_transition(shot=board.shots[3], transition="wipe")
    services.shot_set_transition(shot=board.shots[3], transition=Transition.CROSSFADE, seconds=0.8)
    board.shots[3].refresh_from_db()
    assert (board.shots[3].transition, board.shots[3].transition_s) == (Transition.CROSSFADE, 0.8)


@pytest.mark.django_db(transaction=True)
def test_circling_another_take_makes_the_continuation_stale(board) -> None:
    jobs = services.storyboard_render(project=board.project, user=board.owner)
    _run(jobs)
    shot = Shot.objects.get(pk=board.shots[1].pk)
    reroll = services.shot_reroll(shot=shot, job=jobs[1], user=board.owner)
    _run([reroll])
    assert _statuses(board.project)[1:3] == ["current", "stale"]
    services.shot_set_current(shot=Shot.objects.get(pk=board.shots[1].pk), job=jobs[1])
    assert _statuses(board.project)[1:3] == ["current", "current"]

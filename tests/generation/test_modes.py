"""Image to video, restyle and extend, end to end through the tiny engine."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing import ledger
from generation import execution, requests
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from generation.requests import RenderRejected
from tests.factories import submit_one, team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
State = RenderJob.State


def _png(
    color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 36)
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return SimpleUploadedFile("frame.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def finished(small_request):
    team, owner = team_with_owner(plan_code="standard")
    job = submit_one(team=team, user=owner, request=small_request)
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    return team, owner, job


def test_image_to_video_animates_the_uploaded_frame(small_request) -> None:
    team, owner = team_with_owner()
    request = replace(small_request, mode="i2v", image=_png())
    job = submit_one(team=team, user=owner, request=request)
    assert job.input_image.name.startswith(f"inputs/team-{team.pk}/")
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    frames, _ = decode_video(job.artifacts.get(kind="video").file.path)
    assert frames.shape == (24, 540, 960, 3)


def test_image_to_video_needs_a_readable_image(small_request) -> None:
    team, owner = team_with_owner()
    with pytest.raises(RenderRejected, match="needs a reference frame") as missing:
        submit_one(team=team, user=owner, request=replace(small_request, mode="i2v"))
    assert missing.value.field == "image"
    junk = SimpleUploadedFile("frame.png", b"not an image", content_type="image/png")
    with pytest.raises(RenderRejected, match="not an image we can read"):
        submit_one(team=team, user=owner, request=replace(small_request, mode="i2v", image=junk))
    assert not RenderJob.objects.exists() and ledger.balance(team).held == 0


def test_restyle_keeps_its_sources_length_and_shape(finished, small_request) -> None:
    team, owner, source = finished
    request = replace(
        small_request, mode="v2v", source_job_id=source.pk, strength=0.3, duration_s=5, fps=24
    )
    job = submit_one(team=team, user=owner, request=request)
    assert (job.duration_s, job.fps, job.aspect) == (source.duration_s, source.fps, source.aspect)
    assert job.recipe["strength"] == 0.3 and job.source_job == source
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    frames, fps = decode_video(job.artifacts.get(kind="video").file.path)
    assert frames.shape == (24, 540, 960, 3) and fps == 12


def test_extend_appends_a_continuation_bills_only_the_new_seconds_and_measures_the_seam(
    finished, small_request
) -> None:
    team, owner, source = finished
    request = replace(small_request, mode="extend", source_job_id=source.pk, duration_s=3)
    job = submit_one(team=team, user=owner, request=request)
    assert (
        job.estimate_credits
        == requests.quote(team=team, request=replace(small_request, duration_s=3)).per_take.credits
    )
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    frames, _ = decode_video(job.artifacts.get(kind="video").file.path)
    source_frames, _ = decode_video(source.artifacts.get(kind="video").file.path)
    assert frames.shape == (24 + 36, 540, 960, 3)  # 2 s + 3 s at 12 fps
    head = frames[:24].astype(float)
    assert np.abs(head - source_frames).mean() < 3  # the source, up to codec noise
    job.refresh_from_db()
    assert job.conformance["seam_ratio"] > 0


def test_extension_limits_follow_the_plan(small_request) -> None:
    team, owner = team_with_owner(plan_code="free")
    source = submit_one(team=team, user=owner, request=replace(small_request, duration_s=4))
    execution.render_job_execute(source.pk)
    with pytest.raises(RenderRejected, match="Free plan: extended clips up to 5 s"):
        submit_one(
            team=team,
            user=owner,
            request=replace(small_request, mode="extend", source_job_id=source.pk, duration_s=2),
        )


def test_another_teams_render_cannot_be_a_source(finished, small_request) -> None:
    _, _, source = finished
    team, owner = team_with_owner()
    with pytest.raises(RenderRejected, match="Choose a finished render of your team"):
        submit_one(
            team=team,
            user=owner,
            request=replace(small_request, mode="v2v", source_job_id=source.pk),
        )


def test_keyframes_mode_says_what_to_use_instead(small_request) -> None:
    team, owner = team_with_owner()
    with pytest.raises(RenderRejected, match="use image to video") as info:
        submit_one(team=team, user=owner, request=replace(small_request, mode="keyframes"))
    assert info.value.field == "mode"

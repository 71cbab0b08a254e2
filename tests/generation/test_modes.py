"""Image to video, restyle and extend, end to end through the tiny engine."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing import ledger
from generation import execution, requests, runtime
from generation.engine.camera import CameraSpec
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from generation.requests import RenderRejected
from generation.uploads import Frame, UploadRefused, frame_from_upload
from tests.factories import submit_one, team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
State = RenderJob.State


def _png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 36)) -> Frame:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return frame_from_upload(SimpleUploadedFile("frame.png", buffer.getvalue()))


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
    with pytest.raises(UploadRefused, match="not an image we can read") as unreadable:
        frame_from_upload(junk)  # the edge decodes an upload; a request never holds one
    assert unreadable.value.field == "image"
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


def _mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).astype(np.float64).mean(axis=0)


def test_keyframes_run_from_the_start_frame_to_the_end_frame(small_request) -> None:
    team, owner = team_with_owner()
    red, blue = (220, 30, 30), (30, 30, 220)
    request = replace(
        small_request, mode="keyframes", image=_png(red), end_image=_png(blue), camera=CameraSpec()
    )
    job = submit_one(team=team, user=owner, request=request)
    assert job.input_image and job.input_end_image
    spec = execution.render_spec(job, None)
    assert spec.image is not None and spec.end_image is not None
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    frames, _ = decode_video(job.artifacts.get(kind="video").file.path)
    first, last = _mean_rgb(frames[0]), _mean_rgb(frames[-1])
    assert first[0] > first[2] + 60  # red where the clip starts
    assert last[2] > last[0] + 60  # blue where it ends


def test_keyframes_taken_from_renders_use_their_last_and_first_frames(
    finished, small_request
) -> None:
    team, owner, source = finished
    request = replace(
        small_request, mode="keyframes", image_job_id=source.pk, end_image_job_id=source.pk
    )
    job = submit_one(team=team, user=owner, request=request)
    source_frames, _ = decode_video(source.artifacts.get(kind="video").file.path)
    with job.input_image.open("rb") as fh, Image.open(fh) as img:
        start = np.asarray(img.convert("RGB"))
    with job.input_end_image.open("rb") as fh, Image.open(fh) as img:
        end = np.asarray(img.convert("RGB"))
    assert np.array_equal(start, source_frames[-1])
    assert np.array_equal(end, source_frames[0])
    assert job.recipe["image_job_id"] == source.pk == job.recipe["end_image_job_id"]
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED


def test_a_frame_of_another_teams_render_is_not_found(finished, small_request) -> None:
    _, _, source = finished
    team, owner = team_with_owner()
    request = replace(small_request, mode="i2v", image_job_id=source.pk)
    with pytest.raises(requests.SourceNotFound) as info:
        submit_one(team=team, user=owner, request=request)
    assert info.value.field == "image"
    assert not RenderJob.objects.filter(team=team).exists()


def test_keyframes_need_an_end_frame(small_request) -> None:
    team, owner = team_with_owner()
    with pytest.raises(RenderRejected, match="needs an end frame") as info:
        submit_one(
            team=team, user=owner, request=replace(small_request, mode="keyframes", image=_png())
        )
    assert info.value.field == "end_image"


def test_reframe_sees_the_source_through_another_aspect(finished, small_request) -> None:
    team, owner, source = finished
    request = replace(
        small_request,
        mode="reframe",
        source_job_id=source.pk,
        duration_s=5,
        camera=CameraSpec(aspect="9:16"),
    )
    job = submit_one(team=team, user=owner, request=request)
    # The source's length, frame rate and camera, through the new gate.
    assert (job.duration_s, job.fps) == (source.duration_s, source.fps)
    assert job.camera == replace(source.camera, aspect="9:16")
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    frames, _ = decode_video(job.artifacts.get(kind="video").file.path)
    assert frames.shape == (source.duration_s * source.fps, 960, 540, 3)


def test_reframe_to_the_same_aspect_is_refused(finished, small_request) -> None:
    team, owner, source = finished
    request = replace(small_request, mode="reframe", source_job_id=source.pk)
    with pytest.raises(RenderRejected, match="another aspect ratio") as info:
        submit_one(team=team, user=owner, request=request)
    assert info.value.field == "aspect"


def test_loop_reaches_the_engine(small_request) -> None:
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=replace(small_request, loop=True))
    assert job.recipe["loop"] is True
    spec = execution.render_spec(job, None)
    assert spec.loop
    assert runtime.backend_request(spec, runtime.backend().capabilities).loop
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED

"""Open-weights backends through the studio's job path, end to end on the CPU: submit, the
worker (``execution.render_job_execute``), MP4, settlement. Tiny random-weight configurations
of the real diffusers and transformers classes (tests/backends/tiny.py), at a size and length a
CPU renders in about a second; the same progress, cancel, credits and conformance score as the
built-in model."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing import ledger
from generation import execution, lifecycle, progress, runtime
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from generation.requests import RenderRequest
from generation.uploads import Frame, frame_from_upload
from generation.vocabulary import Mode, Quality
from tests.backends import tiny
from tests.factories import submit_one, team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
State = RenderJob.State

STILL = RenderRequest(
    prompt="a lighthouse on a cliff at dusk",
    quality=Quality.FLASH,
    resolution=540,
    duration_s=1,
    fps=8,
    seed=3,
    camera=CameraSpec(),
)
DOLLY_IN = CameraSpec(moves=(CameraMove.make("dolly", "in"),))


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models are all overhead: a second OpenMP thread spins at barriers on a shared
    # 2-core machine (tests/backends/conftest.py has the measurement).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _upload(seed: int = 0) -> Frame:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (36, 64, 3), generator=g, dtype=torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return frame_from_upload(SimpleUploadedFile("frame.png", buffer.getvalue()))


def _listen(job: RenderJob) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(progress.job_group(job.pk), channel)
    return channel


def _steps_pushed(channel: str, *, until_state: str) -> list[int]:
    """The step of every running-state push the channel received before ``until_state``."""

    async def receive_all() -> list[dict]:
        layer, messages = get_channel_layer(), []
        while True:
            message = await asyncio.wait_for(layer.receive(channel), 30)
            messages.append(message)
            if message["state"] == until_state:
                return messages

    messages = async_to_sync(receive_all)()
    return [
        int(re.search(r'data-step="(\d+)"', m["html"]).group(1))
        for m in messages
        if m["state"] == State.RUNNING
    ]


def _recipe(job: RenderJob) -> dict:
    return json.loads(job.artifacts.get(kind="recipe").file.read())


def _render(request: RenderRequest, *, plan: str = "free") -> tuple[RenderJob, list[int]]:
    """Submit one take, run the worker on it, and return it finished with its pushed steps."""
    team, owner = team_with_owner(plan_code=plan)
    job = submit_one(team=team, user=owner, request=request)
    channel = _listen(job)
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED, job.error_message
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED, job.error_message
    pushed = _steps_pushed(channel, until_state=State.SUCCEEDED)
    # Settled for the estimate, nothing held, every cached balance matching the ledger.
    assert job.cost_credits == job.estimate_credits
    account = ledger.balance(job.team)
    account.refresh_from_db()
    assert account.held == 0 and ledger.check_ledger() == []
    return job, pushed


def _assert_delivered(job: RenderJob, seconds: int) -> None:
    frames, fps = decode_video(job.artifacts.get(kind="video").file.path)
    assert frames.shape == (seconds * 8, 540, 960, 3) and fps == 8
    assert set(job.artifacts.values_list("kind", flat=True)) == {
        "video", "poster", "strip", "recipe",
    }  # fmt: skip


def test_wan_text_to_video_runs_the_job_path_and_records_what_ran(use_backend) -> None:
    name = use_backend("wan2.1-1.3b")
    job, pushed = _render(STILL)
    _assert_delivered(job, 1)
    recipe = _recipe(job)
    ran = recipe["backend_metadata"]
    assert job.backend == recipe["backend"] == name
    assert job.model_version == recipe["model_version"] == name
    assert ran["pipelines"] == {"t2v": "WanPipeline"}
    assert ran["models"] == {"t2v": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"}
    # A still camera goes into the prompt in words; the recipe keeps what was sent.
    assert recipe["camera_route"] == "prompt"
    assert recipe["prompt_sent"] == "a lighthouse on a cliff at dusk, static shot, 35mm lens"
    assert recipe["native"]["fps"] == 8.0 and ran["frames"] == 9
    assert job.recipe["backend_metadata"] == ran  # the job row keeps the recipe as rendered
    # The same throttled pushes as the built-in model: in order, up to Flash's 12 steps.
    assert pushed == sorted(pushed) and pushed[-1] > 0
    assert job.progress_step == job.progress_total == ran["denoising_steps"] == 12
    assert job.conformance["requested"] == "static" and 0 <= job.conformance["score"] <= 1


def test_wan_image_to_video_on_its_own_model(use_backend) -> None:
    use_backend("wan2.1-14b")
    job, _ = _render(replace(STILL, mode=Mode.IMAGE, image=_upload()))
    _assert_delivered(job, 1)
    ran = _recipe(job)["backend_metadata"]
    assert ran["pipelines"] == {"i2v": "WanImageToVideoPipeline"}
    assert ran["models"] == {"i2v": "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers"}


def test_a_camera_move_reaches_wan_vace_as_geometry_measured_by_depth_anything(
    use_backend,
) -> None:
    use_backend("wan2.1-1.3b")
    job, pushed = _render(replace(STILL, camera=DOLLY_IN))
    _assert_delivered(job, 1)
    recipe = _recipe(job)
    ran = recipe["backend_metadata"]
    assert recipe["camera_route"] == "geometry"
    # Wan's own first frame is the keyframe; VACE renders the clip over the cache's render.
    assert ran["pipelines"] == {"keyframe": "WanPipeline", "vace": "WanVACEPipeline"}
    assert ran["depth_source"] == tiny.DEPTH_FOLDER and 0 < ran["cache_seen"] <= 1
    assert job.progress_total == 24 and pushed[-1] <= 24  # both stages count
    assert job.conformance["requested"] == "dolly in"


def test_ltx_image_to_video_by_geometry_with_the_builtin_depth_network(use_backend) -> None:
    use_backend("ltx-video", depth_model="")
    job, _ = _render(replace(STILL, mode=Mode.IMAGE, image=_upload(1), camera=DOLLY_IN))
    _assert_delivered(job, 1)
    ran = _recipe(job)["backend_metadata"]
    assert ran["pipelines"] == {"condition": "LTXConditionPipeline"}
    assert ran["camera_route"] == "geometry" and ran["depth_source"] == "builtin"
    assert ran["camera_strength"] == 0.6


def test_ltx_extends_and_wan_restyles_a_finished_render(use_backend) -> None:
    use_backend("ltx-video")
    source, _ = _render(STILL)
    team, owner = source.team, source.requested_by
    extended = submit_one(
        team=team,
        user=owner,
        request=replace(STILL, mode=Mode.EXTEND, source_job_id=source.pk, seed=4),
    )
    assert execution.render_job_execute(extended.pk) == State.SUCCEEDED
    extended.refresh_from_db()
    _assert_delivered(extended, 2)  # the source's second, then the new one
    ran = _recipe(extended)["backend_metadata"]
    # LTX sees 1 + 8k of the source's last frames: of an 8-frame source, its last one.
    assert ran["mode"] == "extend" and ran["context_frames"] == 1
    assert "seam_ratio" in extended.conformance

    use_backend("wan2.1-1.3b")
    restyled = submit_one(
        team=team,
        user=owner,
        request=replace(STILL, mode=Mode.RESTYLE, source_job_id=source.pk, strength=0.5),
    )
    assert execution.render_job_execute(restyled.pk) == State.SUCCEEDED
    restyled.refresh_from_db()
    _assert_delivered(restyled, 1)
    ran = _recipe(restyled)["backend_metadata"]
    assert ran["pipelines"] == {"v2v": "WanVideoToVideoPipeline"} and ran["strength"] == 0.5
    assert restyled.progress_step == restyled.progress_total == 6  # half of Flash's 12
    assert ledger.balance(team).held == 0 and ledger.check_ledger() == []


def test_missing_model_folders_fail_the_job_with_a_refund_and_tell_the_admin_how_to_fetch(
    use_backend, tmp_path: Path
) -> None:
    use_backend("ltx-video", models_dir=str(tmp_path))
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=STILL)
    assert execution.render_job_execute(job.pk) == State.FAILED
    job.refresh_from_db()
    assert job.error_message == (
        "The model's files are not installed on the render worker; an administrator has the "
        f"details. Your {job.estimate_credits} credits were refunded."
    )
    first = job.error_detail.splitlines()[0]
    folder = tmp_path / "LTX-Video-0.9.5"
    assert first.startswith(f"ModelsNotInstalled: Model folder {folder} is not usable")
    assert f"hf download Lightricks/LTX-Video-0.9.5 --local-dir {folder}" in first
    assert str(tmp_path) not in job.error_message
    assert not job.artifacts.exists()
    assert ledger.balance(team).available == 30 and ledger.check_ledger() == []


def test_cancelling_a_running_open_weights_job_stops_it_and_refunds_in_full(
    use_backend, settings
) -> None:
    settings.RENDER_HEARTBEAT_S = 0.05
    # 5 s at 8 fps, 192×128: about 40 ms a step, still sampling when the cancel lands.
    use_backend("wan2.1-1.3b", frames=41, scale=4)
    team, owner = team_with_owner(plan_code="pro")
    before = ledger.balance(team).available
    job = submit_one(
        team=team, user=owner, request=replace(STILL, quality=Quality.PRO, duration_s=5)
    )
    assert ledger.balance(team).available == before - job.estimate_credits
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(execution.render_job_execute(job.pk)))
    worker.start()
    deadline = time.monotonic() + 120
    while not RenderJob.objects.filter(
        pk=job.pk, state=State.RUNNING, progress_step__gte=1
    ).exists():
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.01)
    lifecycle.render_job_cancel(job=RenderJob.objects.get(pk=job.pk))
    worker.join(timeout=120)
    job.refresh_from_db()
    assert outcome == [State.CANCELLED] and job.state == State.CANCELLED
    assert job.progress_step < job.progress_total == 50  # stopped between Pro's 50 steps
    assert ledger.balance(team).available == before and ledger.balance(team).held == 0
    assert ledger.check_ledger() == [] and not job.artifacts.exists()


def test_a_character_adapter_trains_on_the_worker_and_a_job_renders_with_it(
    use_backend, tmp_path: Path
) -> None:
    use_backend("wan2.1-1.3b")
    g = torch.Generator().manual_seed(5)
    references = [torch.randint(0, 256, (32, 48, 3), generator=g, dtype=torch.uint8)] * 2
    steps: list[int] = []
    folder = runtime.train_character(
        references,
        "Mara, a red-haired pilot",
        tmp_path / "mara",
        steps=3,
        rank=4,
        learning_rate=1e-2,
        progress=lambda s, t, loss: steps.append(s),
    )
    assert steps == [1, 2, 3]
    transformer = runtime.backend().pipe("t2v", tiny.WanPipeline).transformer
    weights = {k: v.clone() for k, v in transformer.state_dict().items()}

    request = replace(STILL, prompt="Mara, a red-haired pilot, walks to her plane")
    plain, _ = _render(request)
    team, owner = team_with_owner()
    job = submit_one(team=team, user=owner, request=request)
    # What a character's render records at submit: the adapter trained for this backend.
    RenderJob.objects.filter(pk=job.pk).update(
        recipe={**job.recipe, "adapters": [{"path": str(folder), "scale": 1.0}]}
    )
    assert execution.render_job_execute(job.pk) == State.SUCCEEDED
    job.refresh_from_db()
    ran = _recipe(job)["backend_metadata"]
    assert ran["loras"] == [{
        "path": str(folder), "scale": 1.0, "prompt": "Mara, a red-haired pilot", "rank": 4,
    }]  # fmt: skip
    assert _recipe(job)["native"]["frames_sha256"] != _recipe(plain)["native"]["frames_sha256"]
    # The job loaded the adapter and took it out again: the base weights are as they were.
    assert all(torch.equal(weights[k], v) for k, v in transformer.state_dict().items())
    assert ledger.balance(team).held == 0 and ledger.check_ledger() == []

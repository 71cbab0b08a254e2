"""Exporting a storyboard: the film, the OpenTimelineIO file and the EDL read back, the task
with its downloads. opentimelineio runs in its own process (``storyboards.otio_export``)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from generation import execution
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.video_io import decode_video
from generation.models import RenderJob
from storyboards import exports, services
from storyboards.models import StoryboardExport, Transition
from tests.factories import team_with_owner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]
DOLLY = CameraSpec(focal_mm=35, moves=(CameraMove.make("dolly", "in"),))
BASE = {"fps": 12, "resolution": 540, "quality": "flash", "camera": DOLLY}
FPS = 24


@pytest.fixture
def rendered():
    """Three rendered shots of 2, 3 and 2 s: a 0.5 s crossfade into shot 2, shot 3 continues
    shot 2. The film runs at 24 fps, the takes at 12."""
    team, owner = team_with_owner(plan_code="standard")
    project = services.project_create(team=team, user=owner, name="Coast")
    services.project_set_format(project=project, aspect="16:9", fps=FPS)
    shots = [
        services.shot_create(project=project, fields=BASE | {"prompt": p, "duration_s": d})
        for p, d in (("a red ball", 2), ("a lighthouse on a cliff", 3), ("the lamp turns", 2))
    ]
    services.shot_set_transition(shot=shots[1], transition=Transition.CROSSFADE, seconds=0.5)
    services.shot_set_transition(shot=shots[2], transition=Transition.CONTINUE)
    for job in services.storyboard_render(project=project, user=owner):
        assert execution.render_job_execute(job.pk) == RenderJob.State.SUCCEEDED
    return SimpleNamespace(team=team, owner=owner, project=project, shots=shots)


def test_the_export_reads_back_as_the_storyboard(rendered, tmp_path: Path) -> None:
    call_command("export_storyboard", str(rendered.project.pk), "--out", str(tmp_path))
    # The film: the sum of the shots less the crossfade's overlap, within one frame.
    frames, fps = decode_video(tmp_path / "storyboard.mp4")
    assert fps == FPS and frames.shape[1:] == (540, 960, 3)
    assert abs(len(frames) / fps - (2 + 3 + 2 - 0.5)) <= 1 / FPS
    # The .otio: the same clips, order, durations and transitions, over the shot media.
    edit = exports.read_edit(tmp_path / "storyboard.otio", FPS)
    assert [c["name"][:2] for c in edit["clips"]] == ["01", "02", "03"]
    assert [c["transition"] for c in edit["clips"]] == ["cut", "crossfade", "continue"]
    assert [c["media"] for c in edit["clips"]] == [f"media/shot-0{i}.mp4" for i in (1, 2, 3)]
    assert edit["dissolves"] == [{"before": 1, "in": 6, "out": 6, "type": "SMPTE_Dissolve"}]
    assert [(c["start"], c["frames"]) for c in edit["clips"]] == [(0, 42), (6, 66), (0, 48)]
    assert edit["frames"] == len(frames)
    # Each clip's media holds the frames its source range and the dissolve's handles need.
    for clip, seconds in zip(edit["clips"], (2, 3, 2), strict=True):
        media, _ = decode_video(tmp_path / clip["media"])
        assert len(media) == seconds * FPS
    # The EDL: the same events, the dissolve starting where the film's crossfade starts.
    edl = exports.read_edit(tmp_path / "storyboard.edl", FPS)
    assert [c["name"][:2] for c in edl["clips"]] == ["01", "02", "03"]
    assert [c["record_in"] for c in edl["clips"]] == [0, 48 - 12, 48 - 12 + 72]
    assert [d["in"] + d["out"] for d in edl["dissolves"]] == [12]
    assert edl["frames"] == len(frames)
    # The recipes: one per shot's take, and the storyboard's manifest.
    with zipfile.ZipFile(tmp_path / "storyboard-recipes.zip") as zf:
        names = sorted(zf.namelist())
        manifest = json.loads(zf.read("storyboard.json"))
    assert len(names) == 4 and manifest["frames"] == len(frames)
    assert [s["transition"] for s in manifest["shots"]] == ["cut", "crossfade", "continue"]
    # Mid-dissolve (film frame 48 - 6) lies between the two shots' frames there.
    one, _ = decode_video(tmp_path / "media" / "shot-01.mp4")
    two, _ = decode_video(tmp_path / "media" / "shot-02.mp4")
    mid, a, b = frames[42].astype(float), one[42].astype(float), two[6].astype(float)
    assert abs(mid - (a + b) / 2).mean() < min(abs(mid - a).mean(), abs(mid - b).mean())


def test_a_storyboard_with_an_unrendered_shot_is_refused(seeded, tmp_path: Path) -> None:
    team, owner = team_with_owner(plan_code="standard")
    project = services.project_create(team=team, user=owner, name="Empty")
    services.shot_create(project=project, fields=BASE | {"prompt": "a ball"})
    with pytest.raises(CommandError, match="no finished take"):
        call_command("export_storyboard", str(project.pk), "--out", str(tmp_path))
    with pytest.raises(exports.ExportRejected):
        services.storyboard_export_request(project=project, user=owner)
    assert not StoryboardExport.objects.exists()


def test_the_export_task_stores_files_the_team_downloads(rendered) -> None:
    client = Client()
    client.force_login(rendered.owner)
    response = client.post(f"/projects/{rendered.project.pk}/export/")
    assert response.status_code == 302
    export = StoryboardExport.objects.get()
    assert export.state == StoryboardExport.State.QUEUED
    assert services.storyboard_export_execute(export.pk) == StoryboardExport.State.SUCCEEDED
    assert services.storyboard_export_execute(export.pk) == "skipped"
    export.refresh_from_db()
    assert export.percent == 100 and abs(export.duration_s - 6.5) <= 1 / FPS
    page = client.get(f"/projects/{rendered.project.pk}/")
    assert f"/exports/{export.pk}/video/" in page.content.decode()
    video = client.get(f"/exports/{export.pk}/video/")
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert "attachment" in video["Content-Disposition"]
    recipes = client.get(f"/exports/{export.pk}/recipes/")
    body = b"".join(recipes.streaming_content)  # type: ignore[attr-defined]
    assert "storyboard.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert client.get(f"/exports/{export.pk}/nothing/").status_code == 404
    # Another team's export is as absent as a missing one.
    _, stranger = team_with_owner(plan_code="free", name="Theirs")
    other = Client()
    other.force_login(stranger)
    assert other.get(f"/exports/{export.pk}/video/").status_code == 404
    assert other.get(f"/exports/{export.pk}/").status_code == 404
    assert other.post(f"/projects/{rendered.project.pk}/export/").status_code == 404


def _default_queue_length() -> int:
    from studio.celery import app

    with app.connection_for_write() as conn:
        return int(conn.default_channel.client.llen(services.EXPORT_QUEUE))


def test_queued_exports_are_sent_again_after_the_broker_lost_them(rendered) -> None:
    """An embedded Redis comes back empty from a restart; runstack then sends the queued
    exports again. One that already ran is not sent, and a duplicate would be skipped."""
    export = services.storyboard_export_request(project=rendered.project, user=rendered.owner)
    before = _default_queue_length()
    assert services.storyboard_exports_requeue_waiting() == [export.pk]
    assert _default_queue_length() == before + 1
    assert services.storyboard_export_execute(export.pk) == StoryboardExport.State.SUCCEEDED
    assert services.storyboard_export_execute(export.pk) == "skipped"
    assert services.storyboard_exports_requeue_waiting() == []


def test_a_running_export_whose_worker_died_is_failed_by_the_reaper() -> None:
    team, owner = team_with_owner(plan_code="standard")
    project = services.project_create(team=team, user=owner, name="Coast")
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    running = StoryboardExport.State.RUNNING
    orphan = StoryboardExport.objects.create(
        project=project, state=running, worker=f"{socket.gethostname()}:{gone.pid}"
    )
    alive = StoryboardExport.objects.create(
        project=project, state=running, worker=f"{socket.gethostname()}:{os.getpid()}"
    )
    elsewhere = StoryboardExport.objects.create(
        project=project, state=running, worker=f"elsewhere:{gone.pid}"
    )
    assert services.storyboard_exports_reap() == [orphan.pk]
    orphan.refresh_from_db()
    assert orphan.state == StoryboardExport.State.FAILED and orphan.finished_at
    assert "export it again" in orphan.error_message
    for export in (alive, elsewhere):
        export.refresh_from_db()
        assert export.state == running
    assert services.storyboard_exports_reap() == []

"""What a GPU worker does with one job: render, deliver, encode, store, settle.

Called by the thin Celery task. Every exit path leaves the job in a final state with its
reservation settled or released, except a killed process, which the reaper handles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import close_old_connections, connection
from django.utils import timezone
from torch import Tensor

from generation import delivery, progress, runtime, services
from generation.engine import metrics, video_io
from generation.engine.camera import CameraSpec
from generation.engine.pipeline import GenerationRequest, SamplingCancelled
from generation.models import Artifact, RenderJob

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Touches the job every few seconds from a thread, so long steps and encoding do not
    look like a dead worker. Also watches for a cancel request."""

    def __init__(self, job_id: int, interval_s: float) -> None:
        self.job_id = job_id
        self.interval_s = interval_s
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self.beat()
        finally:
            connection.close()

    def beat(self) -> None:
        RenderJob.objects.filter(pk=self.job_id, state__in=RenderJob.ACTIVE).update(
            heartbeat_at=timezone.now()
        )
        if RenderJob.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            self.cancelled.set()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)


def _generation_request(job: RenderJob) -> GenerationRequest:
    r = job.recipe
    native_frames = delivery.native_frames_needed(job.duration_s, r["native_fps"])
    return GenerationRequest(
        prompt=job.prompt,
        mode=job.mode,
        quality=job.quality,
        seed=job.seed,
        aspect=job.aspect,
        num_frames=native_frames,
        camera=CameraSpec.from_dict(r["camera"]),
    )


def _write_artifacts(
    frames: Tensor, job: RenderJob, workdir: Path, timings: dict, native_sha256: str
) -> dict:
    """Encode and write every artifact into ``workdir``; returns kind -> (path, meta)."""
    started = time.perf_counter()
    t, h, w, _ = frames.shape
    video = video_io.encode_mp4(frames, workdir / "video.mp4", fps=job.fps)
    poster = video_io.write_poster(frames, workdir / "poster.jpg", index=min(t - 1, t // 3))
    strip = workdir / "strip.jpg"
    video_io.thumbnail_strip(frames, count=8, height=72).save(strip, format="JPEG", quality=85)
    timings["encode_s"] = round(time.perf_counter() - started, 3)
    recipe = workdir / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                **job.recipe,
                "job": job.pk,
                "native": {"fps": job.recipe["native_fps"], "frames_sha256": native_sha256},
                "delivered": {"width": w, "height": h, "frames": t, "fps": job.fps},
                "timings": timings,
            },
            indent=2,
            sort_keys=True,
        )
    )
    meta = {"width": w, "height": h, "frames": t, "fps": float(job.fps)}
    return {
        Artifact.Kind.VIDEO: (video, meta),
        Artifact.Kind.POSTER: (poster, {"width": w, "height": h}),
        Artifact.Kind.STRIP: (strip, {}),
        Artifact.Kind.RECIPE: (recipe, {}),
    }


def _attacher(files: dict):
    """Stores files through Django's storage inside the finishing transaction; if that
    transaction fails, the stored files are deleted again."""
    stored: list[Artifact] = []

    def attach(job: RenderJob) -> None:
        try:
            for kind, (path, meta) in files.items():
                artifact = Artifact(job=job, kind=kind, bytes=path.stat().st_size, **meta)
                with path.open("rb") as fh:
                    artifact.file.save(path.name, File(fh), save=False)
                stored.append(artifact)
                artifact.save()
        except Exception:
            for artifact in stored:
                artifact.file.delete(save=False)
            raise

    return attach


def render_job_execute(job_id: int) -> str:
    """Run one job to a final state. Returns the state it ended in (or 'skipped')."""
    close_old_connections()
    job = services.render_job_claim(job_id=job_id, worker=worker_name())
    if job is None:
        return "skipped"
    timings: dict[str, float] = {}
    try:
        with Heartbeat(job.pk, settings.RENDER_HEARTBEAT_S) as heartbeat:
            started = time.perf_counter()
            pipe = runtime.pipeline()
            timings["engine_load_s"] = round(time.perf_counter() - started, 3)
            reporter = progress.ProgressReporter(job)
            started = time.perf_counter()
            result = pipe(
                _generation_request(job),
                progress=reporter,
                is_cancelled=heartbeat.cancelled.is_set,
            )
            timings["render_s"] = round(time.perf_counter() - started, 3)
            # The recipe's proof of reproducibility: the same recipe gives these exact
            # frames (the MP4 adds codec noise on top, which x264 does not keep bit-exact
            # across runs under load).
            native_sha256 = hashlib.sha256(result.frames.numpy().tobytes()).hexdigest()
            conformance = _conformance(result.frames, job, result.fps, timings)
            job = services.render_job_encoding(job_id=job.pk)
            started = time.perf_counter()
            frames = delivery.deliver(
                result.frames,
                native_fps=result.fps,
                duration_s=job.duration_s,
                fps=job.fps,
                size=delivery.delivery_size(job.recipe["render_resolution"], job.aspect),
            )
            if job.recipe.get("upscaled_to_4k"):
                frames = video_io.upscale(frames, delivery.delivery_size(2160, job.aspect))
            timings["deliver_s"] = round(time.perf_counter() - started, 3)
            with tempfile.TemporaryDirectory(prefix=f"job{job.pk}-") as tmp:
                files = _write_artifacts(frames, job, Path(tmp), timings, native_sha256)
                if heartbeat.cancelled.is_set():
                    raise SamplingCancelled("cancelled while encoding")
                final = services.render_job_succeed(
                    job_id=job.pk, attach=_attacher(files), timings=timings, conformance=conformance
                )
        return final.state if final else "skipped"
    except SamplingCancelled:
        services.render_job_mark_cancelled(job_id=job.pk)
        return RenderJob.State.CANCELLED
    except Exception as exc:
        log.exception("job %s failed", job.pk)
        services.render_job_fail(job_id=job.pk, message=_user_message(exc))
        return RenderJob.State.FAILED


def _conformance(frames: Tensor, job: RenderJob, fps: float, timings: dict) -> dict | None:
    """Did the clip follow the requested camera? Measured on the native frames, from the
    frames alone. A metric failure costs the user nothing: the render is still delivered."""
    started = time.perf_counter()
    try:
        score = metrics.camera_conformance(frames, CameraSpec.from_dict(job.recipe["camera"]), fps)
    except Exception:
        log.exception("conformance of job %s could not be measured", job.pk)
        return None
    timings["conformance_s"] = round(time.perf_counter() - started, 3)
    return dataclasses.asdict(score)


def _user_message(exc: Exception) -> str:
    from generation.engine.weights import WeightsNotInstalled

    if isinstance(exc, WeightsNotInstalled):
        return "The model's weights are not installed on the render worker."
    if isinstance(exc, MemoryError):
        return "The render worker ran out of memory for this request; try a lower resolution."
    return f"The render failed ({type(exc).__name__}: {str(exc)[:200]})."

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

import numpy as np
import torch
from django.conf import settings
from django.core.files import File
from django.db import close_old_connections, connection
from django.utils import timezone
from PIL import Image
from torch import Tensor

from dailies.models import Mode
from generation import delivery, progress, runtime, services
from generation.engine import metrics, video_io
from generation.engine.camera import CameraSpec
from generation.engine.svt_pipeline import GenerationRequest, SamplingCancelled
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


def _source_frames(job: RenderJob) -> tuple[Tensor, float]:
    """The source render's delivered frames (uint8 (T, H, W, 3)) and their fps."""
    artifact = job.source_job.artifacts.get(kind=Artifact.Kind.VIDEO)
    with artifact.file.open("rb") as fh, tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        tmp.write(fh.read())
        tmp.flush()
        frames, fps = video_io.decode_video(tmp.name)
    return torch.from_numpy(frames), fps


def _generation_request(job: RenderJob, source: tuple[Tensor, float] | None) -> GenerationRequest:
    """The engine request of a job; ``source`` is its source render's frames and fps
    (restyle and extend)."""
    r = job.recipe
    native_fps = r["native_fps"]
    inputs: dict = {}
    if job.mode == Mode.IMAGE_TO_VIDEO:
        with job.input_image.open("rb") as fh, Image.open(fh) as img:
            inputs["image"] = np.array(img.convert("RGB"))  # writable: torch wraps it
    native_frames = delivery.native_frames_needed(job.duration_s, native_fps)
    if source is not None:
        frames, fps = source
        video = video_io.resample_fps(frames, fps, native_fps)  # (T', H, W, 3) native timing
        if job.mode == Mode.VIDEO_TO_VIDEO:
            # A delivered clip's last frame sits one frame before its end; hold it so the
            # restyle covers the whole duration, as a text-to-video render does.
            short = native_frames - video.shape[0]
            if short > 0:
                video = torch.cat([video, video[-1:].expand(short, -1, -1, -1)])
            inputs["strength"] = r["strength"]
        inputs["video"] = video[:native_frames] if job.mode == Mode.VIDEO_TO_VIDEO else video
    return GenerationRequest(
        prompt=job.prompt,
        mode=job.mode,
        quality=job.quality,
        seed=job.seed,
        aspect=job.aspect,
        num_frames=native_frames,
        camera=CameraSpec.from_dict(r["camera"]),
        **inputs,
    )


def _deliver(
    job: RenderJob,
    result_frames: Tensor,
    native_fps: float,
    report: dict,
    source: tuple[Tensor, float] | None,
) -> Tensor:
    """The delivered clip. An extension is the source clip followed by its continuation;
    the seam's roughness is measured against the source's own frame-to-frame change."""
    size = delivery.delivery_size(job.recipe["render_resolution"], job.aspect)
    if job.mode != Mode.EXTEND:
        return delivery.deliver(
            result_frames, native_fps=native_fps, duration_s=job.duration_s, fps=job.fps, size=size
        )
    source_frames = video_io.upscale(source[0], size)  # (Ts, H, W, 3) at this job's size
    # The continuation's native frames start one native frame after the source ends.
    wanted = round(job.duration_s * job.fps)
    timed = video_io.resample_fps(result_frames, native_fps, job.fps)
    new = video_io.upscale(timed[:wanted], size)  # (wanted, H, W, 3)
    tail = source_frames[-min(len(source_frames), 12) :].float()
    within = (tail[1:] - tail[:-1]).abs().mean().item()
    seam = (new[0].float() - source_frames[-1].float()).abs().mean().item()
    report["seam_ratio"] = round(seam / max(within, 1e-6), 3)
    return torch.cat([source_frames, new])


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
            # Decoded once: the engine conditions on it, and an extension delivers it too.
            source = _source_frames(job) if job.source_job_id else None
            request = _generation_request(job, source)
            if job.mode != Mode.EXTEND:
                source = None  # only an extension needs it again; free it for the render
            result = pipe(
                request,
                progress=reporter,
                is_cancelled=heartbeat.cancelled.is_set,
            )
            timings["render_s"] = round(time.perf_counter() - started, 3)
            # The recipe's proof of reproducibility: the same recipe gives these exact
            # frames (the MP4 adds codec noise on top, which x264 does not keep bit-exact
            # across runs under load).
            native_sha256 = hashlib.sha256(result.frames.numpy().tobytes()).hexdigest()
            conformance = _conformance(result.frames, job, result.fps, timings) or {}
            job = services.render_job_encoding(job_id=job.pk)
            started = time.perf_counter()
            frames = _deliver(job, result.frames, result.fps, conformance, source)
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

"""What a GPU worker does with one job: claim it, render it through ``runtime``, deliver,
encode and store it, then settle.

Called by the thin Celery task. Every exit path leaves the job in a final state with its
reservation settled or released, except a killed process, which the reaper handles. A
failure tells the user a plain sentence; the exception goes to the log and to the job's
``error_detail``, which only the admin shows.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from PIL import Image

from generation import lifecycle, progress, queue, runtime
from generation.models import Artifact, RenderJob
from generation.vocabulary import Mode, Quality

log = logging.getLogger(__name__)

FAILED = "The render failed on the worker."
# How often a continuation looks again whether the render it starts from has finished.
SOURCE_WAIT_S = 2.0


class CharacterGone(Exception):
    """A character the take applies was deleted after it was submitted: its adapter folder
    went with it. The message names the characters, for the user."""

    def __init__(self, names: list[str | None]) -> None:
        known = [f"@{name}" for name in names if name]
        if not known:
            message = "A character of this take was deleted before it rendered."
        elif len(known) == 1:
            message = f"{known[0]} was deleted before this take rendered."
        else:
            message = f"{' and '.join(known)} were deleted before this take rendered."
        super().__init__(message)


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


def _source_clip(job: RenderJob) -> runtime.Clip:
    """The source render's delivered clip (restyle and extend start from it)."""
    assert job.source_job is not None
    artifact = job.source_job.artifacts.get(kind=Artifact.Kind.VIDEO)
    with artifact.file.open("rb") as fh, tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        tmp.write(fh.read())
        tmp.flush()
        return runtime.read_clip(tmp.name)


def _picture(file: FieldFile) -> np.ndarray:
    with file.open("rb") as fh, Image.open(fh) as img:
        return np.array(img.convert("RGB"))  # (H, W, 3) uint8, writable: torch wraps it


def render_spec(job: RenderJob, source: runtime.Clip | None) -> runtime.RenderSpec:
    """The engine's view of a job: its recipe and its inputs, as plain values."""
    image = end_image = None
    if job.mode in (Mode.IMAGE, Mode.KEYFRAMES):
        image = _picture(job.input_image)
    if job.mode == Mode.KEYFRAMES:
        end_image = _picture(job.input_end_image)
    return runtime.RenderSpec(
        prompt=job.prompt,
        mode=Mode(job.mode),
        quality=Quality(job.quality),
        seed=job.seed,
        camera=job.camera,
        duration_s=job.duration_s,
        image=image,
        source=source,
        strength=float(job.recipe.get("strength", 0.6)),
        adapters=_adapters(job),
        end_image=end_image,
        loop=bool(job.recipe.get("loop", False)),
    )


def _adapters(job: RenderJob) -> tuple[runtime.Adapter, ...]:
    """The character adapters the recipe names (``adapters``: ``[{"path", "scale", ...}]``, a
    shot's characters, all applied), as the worker's backend trained them.

    Raises:
        CharacterGone: an adapter's folder is gone: its character was deleted since submit.
    """
    adapters = job.recipe.get("adapters") or []
    names = {c.get("path"): c.get("name") for c in job.recipe.get("characters") or []}
    gone = [names.get(a["path"]) for a in adapters if not Path(a["path"]).is_dir()]
    if gone:
        raise CharacterGone(gone)
    return tuple(runtime.Adapter(Path(a["path"]), float(a.get("scale", 1.0))) for a in adapters)


def _ran(job: RenderJob, generated: runtime.Generated) -> dict[str, Any]:
    """The recipe as rendered: what was asked, plus what the worker's backend did (its name and
    model version, how the camera reached it, the prompt it was sent, its own account)."""
    meta = generated.metadata
    info = runtime.engine_info()
    if meta.get("backend") != job.recipe.get("backend"):
        log.warning(
            "job %s was submitted for %s and rendered on %s",
            job.pk,
            job.recipe.get("backend"),
            meta.get("backend"),
        )
    return {
        **job.recipe,
        "backend": meta.get("backend", info.backend),
        "model_version": info.model_version,
        "native_fps": generated.clip.fps,
        "camera_route": meta.get("camera_route"),
        "prompt_sent": meta.get("prompt_sent", job.prompt),
        "backend_metadata": meta,
    }


def _recipe_file(
    recipe: dict[str, Any],
    job: RenderJob,
    path: Path,
    native_sha256: str,
    delivered: dict[str, Any],
    timings: dict[str, float],
) -> Path:
    path.write_text(
        json.dumps(
            {
                **recipe,
                "job": job.pk,
                "native": {"fps": recipe["native_fps"], "frames_sha256": native_sha256},
                "delivered": delivered,
                "timings": timings,
            },
            indent=2,
            sort_keys=True,
        )
    )
    return path


def _attacher(files: dict[str, tuple[Path, dict[str, Any]]]) -> Callable[[RenderJob], None]:
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


def _conformance(clip: runtime.Clip, job: RenderJob, timings: dict[str, float]) -> dict[str, Any]:
    """A metric failure costs the user nothing: the render is still delivered, unscored."""
    started = time.perf_counter()
    try:
        score = runtime.conformance(clip, job.camera)
    except Exception:
        log.exception("conformance of job %s could not be measured", job.pk)
        return {}
    timings["conformance_s"] = round(time.perf_counter() - started, 3)
    return score


# Frames of a take the drift score looks at, evenly spaced.
DRIFT_FRAMES = 8


def _reference(name: str) -> np.ndarray:
    with default_storage.open(name, "rb") as fh, Image.open(fh) as img:
        return np.array(img.convert("RGB"))  # (H, W, 3) uint8


def _character_scores(
    clip: runtime.Clip, job: RenderJob, timings: dict[str, float]
) -> dict[str, float]:
    """How like each locked character's references the take's figure is (the drift score,
    0–1), keyed by character id. Like conformance, a failure costs the user nothing: the
    take is delivered unscored."""
    characters = job.recipe.get("characters") or []
    if not characters:
        return {}
    started = time.perf_counter()
    t = clip.frames.shape[0]
    picks = sorted({round(i * (t - 1) / max(1, DRIFT_FRAMES - 1)) for i in range(DRIFT_FRAMES)})
    frames = [clip.frames[i].numpy() for i in picks]  # (H, W, 3) uint8 each
    scores: dict[str, float] = {}
    for character in characters:
        try:
            references = [_reference(name) for name in character.get("references") or []]
            score = runtime.character_similarity(frames, references)
        except Exception:
            log.exception("drift of job %s against character %s failed", job.pk, character)
            continue
        scores[str(character["id"])] = round(float(score), 4)
    timings["drift_s"] = round(time.perf_counter() - started, 3)
    return scores


def _render(job: RenderJob, heartbeat: Heartbeat) -> RenderJob | None:
    timings: dict[str, float] = {}
    _adapters(job)  # a character deleted since submit fails the take before the model loads
    started = time.perf_counter()
    runtime.load()
    timings["engine_load_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    # Decoded once: the model conditions on it, and an extension delivers it too.
    source = _source_clip(job) if job.source_job_id else None
    try:
        generated = runtime.generate(
            render_spec(job, source),
            progress=progress.ProgressReporter(job),
            is_cancelled=heartbeat.cancelled.is_set,
        )
    except Exception:
        # A character deleted while the backend read its adapter fails the load with a file
        # error; the user is told which character went, not which file.
        _adapters(job)
        raise
    clip = generated.clip
    recipe = _ran(job, generated)
    timings["render_s"] = round(time.perf_counter() - started, 3)
    # The recipe's proof of reproducibility: the same recipe gives these exact frames (the
    # MP4 adds codec noise on top, which x264 does not keep bit-exact across runs under load).
    native_sha256 = clip.sha256
    conformance = _conformance(clip, job, timings)
    scores = _character_scores(clip, job, timings)
    job = lifecycle.render_job_encoding(job_id=job.pk)
    started = time.perf_counter()
    frames, report = runtime.deliver(
        clip,
        duration_s=job.duration_s,
        fps=job.fps,
        resolution=job.recipe["render_resolution"],
        aspect=job.aspect,
        upscale_to_4k=bool(job.recipe.get("upscaled_to_4k")),
        extends=source if job.mode == Mode.EXTEND else None,
    )
    conformance.update(report)
    timings["deliver_s"] = round(time.perf_counter() - started, 3)
    with tempfile.TemporaryDirectory(prefix=f"job{job.pk}-") as tmp:
        started = time.perf_counter()
        files = runtime.write_media(frames, Path(tmp), fps=job.fps)
        timings["encode_s"] = round(time.perf_counter() - started, 3)
        t, h, w, _ = frames.shape
        delivered = {"width": w, "height": h, "frames": t, "fps": job.fps}
        recipe_path = _recipe_file(
            recipe, job, Path(tmp) / "recipe.json", native_sha256, delivered, timings
        )
        files[Artifact.Kind.RECIPE] = (recipe_path, {})
        if heartbeat.cancelled.is_set():
            raise runtime.Cancelled("cancelled while encoding")
        return lifecycle.render_job_succeed(
            job_id=job.pk,
            attach=_attacher(files),
            timings=timings,
            conformance=conformance or None,
            recipe=recipe,
            character_scores=scores,
        )


def _wait_for_source(job_id: int) -> str | None:
    """A queued job whose source is still rendering (a storyboard submits a shot and the shot
    that continues it together) goes back to the broker for a moment and returns "waiting";
    one whose source failed fails, refunded. None: the job may run."""
    job = (
        RenderJob.objects.select_related("source_job")
        .filter(pk=job_id, state=RenderJob.State.QUEUED)
        .first()
    )
    if job is None or job.source_job is None:
        return None
    source = job.source_job
    if source.state == RenderJob.State.SUCCEEDED:
        return None
    if source.is_active:
        queue.render_job_enqueue(job, countdown=SOURCE_WAIT_S)
        return "waiting"
    lifecycle.render_job_fail(
        job_id=job.pk, message="The render it continues from did not finish, so it could not start."
    )
    return RenderJob.State.FAILED


def render_job_execute(job_id: int) -> str:
    """Run one job to a final state. Returns the state it ended in, 'skipped', or 'waiting'
    (its source is still rendering: it was queued again)."""
    close_old_connections()
    waiting = _wait_for_source(job_id)
    if waiting is not None:
        return waiting
    job = lifecycle.render_job_claim(job_id=job_id, worker=worker_name())
    if job is None:
        return "skipped"
    try:
        with Heartbeat(job.pk, settings.RENDER_HEARTBEAT_S) as heartbeat:
            final = _render(job, heartbeat)
        return final.state if final else "skipped"
    except runtime.Cancelled:
        lifecycle.render_job_mark_cancelled(job_id=job.pk)
        return RenderJob.State.CANCELLED
    except CharacterGone as exc:
        lifecycle.render_job_fail(
            job_id=job.pk, message=str(exc), detail=repr(job.recipe["adapters"])
        )
        return RenderJob.State.FAILED
    except Exception as exc:
        log.exception("job %s failed", job.pk)
        trace = "".join(traceback.format_exception(exc))[-8000:]
        first = runtime.admin_detail(exc)
        lifecycle.render_job_fail(
            job_id=job.pk,
            message=runtime.user_message(exc) or FAILED,
            detail=f"{first}\n\n{trace}" if first else trace,
        )
        return RenderJob.State.FAILED

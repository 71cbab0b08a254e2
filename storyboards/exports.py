"""Exporting a storyboard: the film as one MP4, the edit for other editors and the recipes.

Each shot's circled take is conformed to the storyboard's aspect ratio and frame rate (its own
frames only: a continuation's file begins with the take it continues) and written as its own
media file; the film joins them with their transitions (a crossfade overlaps the two shots, so
the film is the sum of the shots less the overlaps). The OpenTimelineIO file and the CMX 3600
EDL reference the per-shot media with the same cuts and dissolves; they are written by
``storyboards.otio_export`` in a process of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from generation import runtime
from generation.models import Artifact
from storyboards.models import Project, Transition
from storyboards.planning import storyboard_plan
from studio.errors import UserError

FILE_TYPES = {
    "video": ("mp4", "video/mp4"),
    "timeline": ("otio", "application/json"),
    "edl": ("edl", "text/plain; charset=utf-8"),
    "media": ("media.zip", "application/zip"),
    "recipes": ("recipes.zip", "application/zip"),
}
STEM = "storyboard"
OTIO_TIMEOUT_S = 120


class ExportRejected(UserError):
    """The storyboard cannot be exported as it stands; nothing was queued."""


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "storyboard"


@dataclass(frozen=True)
class ExportShot:
    """One shot as the export cuts it: its take's file and where its own frames are,
    how it begins (``dissolve``: frames of crossfade with the shot before)."""

    number: int
    title: str
    job_id: int
    source: str
    in_s: float
    duration_s: float
    transition: str
    dissolve: int
    recipe: str | None


def export_shots(project: Project) -> list[ExportShot]:
    """The shots to export, in order.

    Raises:
        ExportRejected: no shots, or a shot without a finished take.
    """
    shots = list(
        project.shots.select_related("current_job")
        .prefetch_related("current_job__artifacts")
        .order_by("position", "pk")
    )
    if not shots:
        raise ExportRejected("Add a shot before exporting the storyboard.")
    out = []
    for plan in storyboard_plan(shots):
        job = plan.shot.current_job
        files = {a.kind: a for a in job.artifacts.all()} if job is not None else {}
        video = files.get(Artifact.Kind.VIDEO)
        if job is None or video is None or job.state != job.State.SUCCEEDED:
            raise ExportRejected(
                f"Shot {plan.index + 1} has no finished take yet: render the storyboard first."
            )
        total_s = (video.frames or 0) / (video.fps or job.fps)
        in_s = max(0.0, total_s - job.duration_s) if job.mode == "extend" else 0.0
        kind = plan.boundary.kind if plan.boundary else Transition.CUT
        dissolve = round(plan.boundary.seconds * project.fps) if plan.boundary else 0
        recipe = files.get(Artifact.Kind.RECIPE)
        out.append(
            ExportShot(
                number=plan.index + 1,
                title=str(plan.shot),
                job_id=job.pk,
                source=video.file.name,
                in_s=in_s,
                duration_s=float(job.duration_s),
                transition=str(kind),
                dissolve=dissolve if kind == Transition.CROSSFADE else 0,
                recipe=recipe.file.name if recipe else None,
            )
        )
    return out


def film_resolution(project: Project) -> int:
    """The film's short side: the lowest of the shots' takes, so no shot is blown up."""
    heights = [s.current_job.resolution for s in project.shots.all() if s.current_job]
    return min(heights) if heights else 720


@dataclass(frozen=True)
class ExportFiles:
    video: Path
    timeline: Path
    edl: Path
    media: Path
    recipes: Path
    frames: int
    fps: int


def _otio(command: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "storyboards.otio_export", *command],
        capture_output=True,
        text=True,
        timeout=OTIO_TIMEOUT_S,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"otio_export {command[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _fetch(name: str, path: Path) -> Path:
    """A stored file copied to a local path (storage may be remote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(name, "rb") as fh, path.open("wb") as out:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            out.write(chunk)
    return path


def read_edit(path: Path, fps: float) -> dict[str, Any]:
    """An .otio or .edl file read back with opentimelineio (in its own process)."""
    summary: dict[str, Any] = json.loads(_otio(["read", str(path), "--fps", str(fps)]))
    return summary


def write_export(
    project: Project,
    out_dir: Path,
    *,
    progress: Callable[[int, str], None] | None = None,
) -> ExportFiles:
    """Write the storyboard's film, edit, media and recipes into ``out_dir``.

    ``progress(percent, step)`` is called as each shot is conformed and each file written.

    Raises:
        ExportRejected: a shot has no finished take.
    """
    report = progress or (lambda percent, step: None)
    shots = export_shots(project)
    fps = project.fps
    size = runtime.storyboard_size(film_resolution(project), project.aspect)
    media_dir = out_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    clips: list[dict[str, Any]] = []
    dissolves: list[dict[str, Any]] = []
    lengths = [max(1, round(shot.duration_s * fps)) for shot in shots]
    # Each boundary's dissolve in frames, at most half of either shot.
    dissolve = [
        min(shot.dissolve, lengths[i] // 2, lengths[i - 1] // 2) if i else 0
        for i, shot in enumerate(shots)
    ]
    film = runtime.film_writer(out_dir / f"{STEM}.mp4", size=size, fps=fps)
    held = None  # the previous shot's last frames, kept back for the dissolve into this one
    for i, shot in enumerate(shots):
        report(round(80 * i / len(shots)), f"Conforming shot {shot.number}")
        take = _fetch(shot.source, out_dir / "takes" / f"take-{shot.job_id}.mp4")
        frames = runtime.conform(
            take, start_s=shot.in_s, duration_s=shot.duration_s, fps=fps, size=size
        )  # (T, H, W, 3)
        take.unlink()
        media = media_dir / f"shot-{shot.number:02d}.mp4"
        runtime.encode(frames, media, fps=fps)
        body = frames
        if held is not None:
            d = dissolve[i]
            film.write(held[: len(held) - d])
            film.write(runtime.crossfade(held[len(held) - d :], frames[:d]))
            body = frames[d:]
        following = dissolve[i + 1] if i + 1 < len(shots) else 0
        film.write(body[: len(body) - following])
        held = body[len(body) - following :] if following else None
        clips.append(
            {
                "name": f"{shot.number:02d} {shot.title}"[:60],
                "reel": f"SHOT{shot.number:02d}",
                "media": f"media/{media.name}",
                "available": len(frames),
                "start": 0,
                "frames": len(frames),
                "transition": shot.transition,
                "metadata": {"take": shot.job_id},
            }
        )
        if dissolve[i]:
            d = dissolve[i]
            cut_in, cut_out = d // 2, d - d // 2
            # The cut sits inside the dissolve: the clip before keeps its last ``cut_out``
            # frames as the handle the dissolve runs on, this one its first ``cut_in``.
            clips[-2]["frames"] -= cut_out
            clips[-1]["start"] += cut_in
            clips[-1]["frames"] -= cut_in
            dissolves.append({"before": i, "in": cut_in, "out": cut_out})
    film.close()
    total = film.frames
    report(85, "Writing the OpenTimelineIO file and the EDL")
    spec = {"name": project.name, "fps": fps, "clips": clips, "dissolves": dissolves}
    spec_path = out_dir / f"{STEM}.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    _otio(["write", str(spec_path), str(out_dir), "--stem", STEM])
    report(92, "Packing the media and the recipes")
    media_zip = out_dir / f"{STEM}-media.zip"
    with zipfile.ZipFile(media_zip, "w", zipfile.ZIP_STORED) as zf:
        zf.write(out_dir / f"{STEM}.otio", f"{STEM}.otio")
        for path in sorted(media_dir.iterdir()):
            zf.write(path, f"media/{path.name}")
    recipes = out_dir / f"{STEM}-recipes.zip"
    with zipfile.ZipFile(recipes, "w", zipfile.ZIP_DEFLATED) as zf:
        manifest = {
            "project": project.name,
            "aspect": project.aspect,
            "fps": fps,
            "frames": total,
            "shots": [asdict(s) | {"source": None, "recipe": None} for s in shots],
        }
        zf.writestr("storyboard.json", json.dumps(manifest, indent=2))
        for shot in shots:
            if shot.recipe:
                with default_storage.open(shot.recipe, "rb") as fh:
                    zf.writestr(f"shot-{shot.number:02d}-take-{shot.job_id}.json", fh.read())
    report(100, "Done")
    return ExportFiles(
        video=out_dir / f"{STEM}.mp4",
        timeline=out_dir / f"{STEM}.otio",
        edl=out_dir / f"{STEM}.edl",
        media=media_zip,
        recipes=recipes,
        frames=total,
        fps=fps,
    )

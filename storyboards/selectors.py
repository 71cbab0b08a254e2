"""Reads of projects and shots, scoped to the user's teams: another team's object is a 404."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.db.models import Max, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from accounts.models import Team, User
from generation.models import Artifact, RenderJob
from generation.vocabulary import Mode
from storyboards.models import Project, Shot, StoryboardExport


def _latest_poster_job() -> Subquery:
    """The newest finished job of a project that has a poster: the dashboard thumbnail."""
    return Subquery(
        RenderJob.objects.filter(
            shot__project=OuterRef("pk"),
            state=RenderJob.State.SUCCEEDED,
            artifacts__kind=Artifact.Kind.POSTER,
        )
        .order_by("-finished_at", "-pk")
        .values("pk")[:1]
    )


def project_list(*, user: User, team: Team, archived: bool = False) -> QuerySet[Project]:
    return (
        Project.objects.filter(team=team, team__memberships__user=user, archived=archived)
        .annotate(
            poster_job_id=_latest_poster_job(),
            last_render_at=Max("shots__jobs__created_at"),
            last_shot_at=Max("shots__updated_at"),
        )
        .prefetch_related("shots")
        .order_by("-updated_at", "-pk")
    )


def project_get(*, user: User, project_id: int | str) -> Project:
    try:
        return Project.objects.select_related("team", "team__plan").get(
            pk=int(project_id), team__memberships__user=user
        )
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such project.") from exc


def user_can_see_project(*, user: User, project_id: int) -> bool:
    return Project.objects.filter(pk=project_id, team__memberships__user=user).exists()


def _jobs_newest_first() -> Prefetch:
    return Prefetch(
        "jobs",
        queryset=RenderJob.objects.prefetch_related("artifacts").order_by("-created_at", "-pk"),
    )


def shot_list(*, user: User, project: Project) -> QuerySet[Shot]:
    return (
        Shot.objects.filter(project=project, project__team__memberships__user=user)
        .select_related("current_job", "project")
        .prefetch_related(_jobs_newest_first())
        .order_by("position", "pk")
    )


def shot_get(*, user: User, shot_id: int | str) -> Shot:
    try:
        return (
            Shot.objects.select_related("project", "project__team", "project__team__plan")
            .select_related("current_job")
            .prefetch_related(_jobs_newest_first())
            .get(pk=int(shot_id), project__team__memberships__user=user)
        )
    except (Shot.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such shot.") from exc


def shot_take_get(*, shot: Shot, job_id: int | str | None) -> RenderJob | None:
    """The take to show on the shot page: the one asked for, else the circled one, else the
    newest. A job of another shot is a 404 even within the team."""
    takes = list(shot.jobs.all())
    if job_id:
        try:
            wanted = int(job_id)
        except (TypeError, ValueError) as exc:
            raise Http404("No such take.") from exc
        for job in takes:
            if job.pk == wanted:
                return job
        raise Http404("No such take.")
    if shot.current_job_id:
        for job in takes:
            if job.pk == shot.current_job_id:
                return job
    return takes[0] if takes else None


def shot_card_job(shot: Shot) -> RenderJob | None:
    """What a timeline card shows: a take still rendering first (its progress is news), else
    the circled take, else the newest."""
    takes = list(shot.jobs.all())
    for job in takes:
        if job.is_active:
            return job
    if shot.current_job_id:
        for job in takes:
            if job.pk == shot.current_job_id:
                return job
    return takes[0] if takes else None


@dataclass(frozen=True)
class TimeEstimate:
    seconds: float
    samples: int


def render_time_estimate(
    *, quality: str, duration_s: int, variants: int = 1
) -> TimeEstimate | None:
    """Wall time from start to delivery, from the last finished renders at this quality,
    scaled by clip length. None when no render at this quality has finished yet: the UI then
    says so rather than inventing a number. Workers are shared, so every team's timings
    count; only durations are read."""
    rows = (
        RenderJob.objects.filter(
            quality=quality,
            state=RenderJob.State.SUCCEEDED,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at", "duration_s")[:20]
    )
    per_second = [
        (finished - started).total_seconds() / max(1, clip_s)
        for started, finished, clip_s in rows
        if started and finished  # the query asks for both; the types cannot know
    ]
    if not per_second:
        return None
    # Takes of one submit run one after another on a single worker.
    seconds = statistics.median(per_second) * duration_s * variants
    return TimeEstimate(seconds=seconds, samples=len(per_second))


def source_choices(*, user: User, team: Team, limit: int = 40) -> list[tuple[int, str]]:
    """Finished renders a restyle or extension may start from, newest first."""
    jobs = (
        RenderJob.objects.filter(
            team=team, team__memberships__user=user, state=RenderJob.State.SUCCEEDED
        )
        .select_related("shot")
        .order_by("-finished_at", "-pk")[:limit]
    )
    return [
        (
            job.pk,
            f"Take {job.pk} · {(job.shot.title if job.shot else '') or job.prompt[:40]} · "
            f"{job.duration_s} s {job.aspect}",
        )
        for job in jobs
    ]


@dataclass(frozen=True)
class TakeMedia:
    """Where a shot's own frames are in its circled take's MP4: a continuation's file begins
    with the take it continues, so its frames start at ``in_s``."""

    job: RenderJob
    artifact: Artifact
    in_s: float
    duration_s: float


def take_media(shot: Shot) -> TakeMedia | None:
    """The circled take's video, when it has finished (jobs and artifacts prefetched)."""
    job = next((j for j in shot.jobs.all() if j.pk == shot.current_job_id), None)
    if job is None or job.state != RenderJob.State.SUCCEEDED:
        return None
    artifact = next((a for a in job.artifacts.all() if a.kind == Artifact.Kind.VIDEO), None)
    if artifact is None:
        return None
    fps = artifact.fps or job.fps
    total_s = (artifact.frames or 0) / fps if artifact.frames else float(job.duration_s)
    in_s = max(0.0, total_s - job.duration_s) if job.mode == Mode.EXTEND else 0.0
    return TakeMedia(job=job, artifact=artifact, in_s=in_s, duration_s=float(job.duration_s))


def export_list(*, project: Project, limit: int = 5) -> list[StoryboardExport]:
    return list(project.exports.order_by("-created_at", "-pk")[:limit])


def export_get(*, user: User, export_id: int | str) -> StoryboardExport:
    try:
        return StoryboardExport.objects.select_related("project").get(
            pk=int(export_id), project__team__memberships__user=user
        )
    except (StoryboardExport.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such export.") from exc


def user_can_see_export(*, user: User, export_id: int) -> bool:
    return StoryboardExport.objects.filter(
        pk=export_id, project__team__memberships__user=user
    ).exists()

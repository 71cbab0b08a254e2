"""Reads of render jobs, scoped to the user's teams (another team's job is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Team, User
from generation.models import RenderJob


def job_list(*, user: User, team: Team) -> QuerySet[RenderJob]:
    return (
        RenderJob.objects.filter(team=team, team__memberships__user=user)
        .select_related("shot", "reservation")
        .prefetch_related("artifacts")
    )


def job_get(*, user: User, job_id: int | str) -> RenderJob:
    try:
        return (
            RenderJob.objects.select_related("team", "shot", "reservation")
            .prefetch_related("artifacts")
            .get(pk=int(job_id), team__memberships__user=user)
        )
    except (RenderJob.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such render.") from exc


def user_can_see_job(*, user: User, job_id: int) -> bool:
    return RenderJob.objects.filter(pk=job_id, team__memberships__user=user).exists()

"""Render pages: list, watch (websocket, polling fallback), cancel, download. Renders are
asked for in the shot composer (storyboards) or the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.http import TeamRequest
from generation import lifecycle, selectors
from generation.models import Artifact
from generation.ranged import ranged_file_response
from generation.runtime import engine_info

ARTIFACT_TYPES = {
    "video": ("mp4", "video/mp4"),
    "poster": ("jpg", "image/jpeg"),
    "strip": ("jpg", "image/jpeg"),
    "recipe": ("json", "application/json"),
}


@login_required
@require_GET
def job_list(request: TeamRequest) -> HttpResponse:
    """The team's renders, newest first. Renders are asked for in a project's shot composer
    (or the API); this page lists them and opens each."""
    return render(
        request,
        "generation/job_list.html",
        {
            "jobs": selectors.job_list(user=request.user, team=request.team)[:30],
            "engine": engine_info(),
        },
    )


@login_required
@require_GET
def job_detail(request: TeamRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get(user=request.user, job_id=job_id)
    return render(request, "generation/job_detail.html", {"job": job})


@login_required
@require_GET
def job_status(request: TeamRequest, job_id: int) -> HttpResponse:
    """The status partial: the polling fallback, and the stored state after a reload."""
    job = selectors.job_get(user=request.user, job_id=job_id)
    template = "generation/_job_status.html" if request.htmx else "generation/job_detail.html"
    return render(request, template, {"job": job})


@login_required
@require_POST
def job_cancel(request: TeamRequest, job_id: int) -> HttpResponse:
    job = lifecycle.render_job_cancel(job=selectors.job_get(user=request.user, job_id=job_id))
    if request.htmx:
        return render(request, "generation/_job_status.html", {"job": job})
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_GET
def job_artifact(request: TeamRequest, job_id: int, kind: str) -> HttpResponseBase:
    """Artifacts are served through the access check, never from a public media URL."""
    job = selectors.job_get(user=request.user, job_id=job_id)
    artifact = next((a for a in job.artifacts.all() if a.kind == kind), None)
    if artifact is None or kind not in Artifact.Kind.values:
        raise Http404("No such file.")
    extension, content_type = ARTIFACT_TYPES[kind]
    return ranged_file_response(
        request,
        artifact.file.open("rb"),
        size=artifact.file.size,
        content_type=content_type,
        filename=f"dailies-job-{job.pk}-{kind}.{extension}",
        download=request.GET.get("download") == "1",
    )

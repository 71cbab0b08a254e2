"""The studio: projects, the storyboard timeline, the shot composer and the shot page.

Every URL renders its full page, or for htmx the partial it names; POST actions redirect
back to their page when htmx is not driving them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import HtmxRequest, TeamRequest
from billing import ledger, pricing
from characters import services as characters
from generation import requests as render_requests
from generation.models import RenderJob
from generation.ranged import ranged_file_response
from generation.runtime import engine_info
from generation.services import IdempotencyConflict
from generation.vocabulary import Quality, Resolution
from storyboards import exports, selectors, services
from storyboards.chips import camera_chips, prompt_without
from storyboards.forms import ProjectForm, ShotForm, StoryboardFormatForm
from storyboards.models import Project, Shot, Transition
from storyboards.planning import storyboard_plan
from studio.errors import UserError
from studio.forms import add_user_error


def _hx(request: HtmxRequest, template: str, partial: str) -> str:
    return f"{template}#{partial}" if request.htmx else template


# --- dashboard and projects -------------------------------------------------------------------


def _dashboard_context(request: TeamRequest, **extra: object) -> dict:
    archived = request.GET.get("archived") == "1"
    return {
        "team": request.team,
        "projects": selectors.project_list(user=request.user, team=request.team, archived=archived),
        "showing_archived": archived,
        "form": ProjectForm(),
    } | extra


@login_required
@require_GET
def dashboard(request: TeamRequest) -> HttpResponse:
    """The team's projects, newest activity first."""
    template = _hx(request, "storyboards/dashboard.html", "project-grid")
    return render(request, template, _dashboard_context(request))


@login_required
@require_POST
def project_create(request: TeamRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            _hx(request, "storyboards/dashboard.html", "project-create"),
            _dashboard_context(request, form=form),
            status=422 if request.htmx else 200,
        )
    project = services.project_create(
        team=request.team, user=request.user, name=form.cleaned_data["name"]
    )
    url = reverse("project_detail", args=[project.pk])
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def project_rename(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    form = ProjectForm(request.POST or None, initial={"name": project.name})
    # The title sits on the dashboard card and on the project page; each asks for its own.
    where = (request.POST or request.GET).get("where", "page")
    context = {"project": project, "form": form, "where": where}
    if request.method == "POST" and form.is_valid():
        services.project_rename(project=project, name=form.cleaned_data["name"])
        if request.htmx:
            return render(request, "storyboards/project_rename.html#project-title", context)
        return redirect("project_detail", project_id=project.pk)
    context["editing"] = request.method == "POST" or request.GET.get("cancel") != "1"
    return render(
        request, _hx(request, "storyboards/project_rename.html", "project-title"), context
    )


@login_required
@require_POST
def project_archive(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    archived = request.POST.get("archived", "1") == "1"
    services.project_set_archived(project=project, archived=archived)
    verb = "Archived" if archived else "Restored"
    messages.success(request, f"{verb} {project.name}.")
    if request.htmx:
        return render(
            request, "storyboards/dashboard.html#project-grid", _dashboard_context(request)
        )
    return redirect("dashboard")


# --- the timeline -----------------------------------------------------------------------------


def _timeline_context(request: TeamRequest, project: Project) -> dict:
    shots = list(selectors.shot_list(user=request.user, project=project))
    plans = storyboard_plan(shots)
    return {
        "project": project,
        "shots": shots,
        # What each card shows: a take still rendering, else the circled one, else the newest;
        # the player plays the circled take, from where the shot's own frames begin.
        "cards": [
            (plan.shot, selectors.shot_card_job(plan.shot), plan, selectors.take_media(plan.shot))
            for plan in plans
        ],
        "total_s": sum(s.duration_s for s in shots),
        "transitions": [(t.value, t.label) for t in Transition],
        "estimate": services.storyboard_estimate(project=project),
        "render_key": uuid.uuid4().hex,
        "exports": selectors.export_list(project=project),
        "format_form": StoryboardFormatForm(instance=project),
    }


@login_required
@require_GET
def project_detail(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    template = _hx(request, "storyboards/project_detail.html", "timeline")
    return render(request, template, _timeline_context(request, project))


def _timeline_response(request: TeamRequest, project: Project) -> HttpResponse:
    project.refresh_from_db()
    if request.htmx:
        return render(
            request,
            "storyboards/project_detail.html#timeline",
            _timeline_context(request, project),
        )
    return redirect("project_detail", project_id=project.pk)


@login_required
@require_POST
def project_reorder(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    order = []
    for value in request.POST.getlist("order"):
        with contextlib.suppress(ValueError):
            order.append(int(value))
    services.shots_reorder(project=project, order=order)
    return _timeline_response(request, project)


@login_required
@require_POST
def shot_move(request: TeamRequest, shot_id: int) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    try:
        offset = max(-1000, min(1000, int(request.POST.get("offset", "0"))))
    except ValueError:
        offset = 0
    services.shot_move(shot=shot, offset=offset)
    return _timeline_response(request, shot.project)


@login_required
@require_POST
def shot_duplicate(request: TeamRequest, shot_id: int) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    services.shot_duplicate(shot=shot)
    return _timeline_response(request, shot.project)


@login_required
@require_POST
def shot_delete(request: TeamRequest, shot_id: int) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    project = shot.project
    services.shot_delete(shot=shot)
    if not request.htmx:
        messages.success(request, "Shot deleted. Its renders stay in the team's render history.")
    return _timeline_response(request, project)


@login_required
@require_POST
def shot_transition(request: TeamRequest, shot_id: int) -> HttpResponse:
    """How a shot begins: cut, crossfade (with its length), continue, match cut or auto."""
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    seconds: float | None = None
    if request.POST.get("transition") == Transition.CROSSFADE:
        try:
            seconds = float(request.POST.get("seconds", "0.5"))
        except ValueError:
            seconds = -1.0  # refused below with the allowed range
    try:
        services.shot_set_transition(
            shot=shot, transition=request.POST.get("transition", ""), seconds=seconds
        )
    except UserError as exc:
        messages.error(request, exc.message)
        if request.htmx:
            return HttpResponse(
                status=204,
                headers={"HX-Redirect": reverse("project_detail", args=[shot.project_id])},
            )
    return _timeline_response(request, shot.project)


@login_required
@require_POST
def storyboard_render(request: TeamRequest, project_id: int) -> HttpResponse:
    """Render the stale and never-rendered shots, all reserved at once or none."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    try:
        jobs = services.storyboard_render(
            project=project,
            user=request.user,
            idempotency_key=request.POST.get("idempotency_key", "")[:40],
        )
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        credits = sum(j.estimate_credits for j in jobs)
        shots = f"{len(jobs)} shots" if len(jobs) != 1 else "1 shot"
        messages.success(
            request, f"Rendering {shots} — {credits} credit{'s' if credits != 1 else ''} reserved."
        )
    url = reverse("project_detail", args=[project.pk])
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@login_required
@require_POST
def project_format(request: TeamRequest, project_id: int) -> HttpResponse:
    """The storyboard's aspect ratio and frame rate, which exports conform to."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    form = StoryboardFormatForm(request.POST, instance=Project.objects.get(pk=project.pk))
    if form.is_valid():
        services.project_set_format(
            project=project, aspect=form.cleaned_data["aspect"], fps=form.cleaned_data["fps"]
        )
    else:
        messages.error(request, "Choose one of the listed aspect ratios and frame rates.")
    return redirect("project_detail", project_id=project.pk)


# --- export -----------------------------------------------------------------------------------


@login_required
@require_POST
def storyboard_export(request: TeamRequest, project_id: int) -> HttpResponse:
    """Queue an export of the storyboard (no credits): its progress arrives over the socket."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    error = ""
    try:
        services.storyboard_export_request(project=project, user=request.user)
    except UserError as exc:
        error = exc.message
    if request.htmx:
        context = {
            "project": project,
            "exports": selectors.export_list(project=project),
            "export_error": error,
        }
        return render(request, "storyboards/project_detail.html#exports", context)
    if error:
        messages.error(request, error)
    return redirect(reverse("project_detail", args=[project.pk]) + "#exports")


@login_required
@require_GET
def export_status(request: TeamRequest, export_id: int) -> HttpResponse:
    export = selectors.export_get(user=request.user, export_id=export_id)
    return render(request, "storyboards/_export_status.html", {"export": export})


@login_required
@require_GET
def export_download(request: TeamRequest, export_id: int, kind: str) -> HttpResponseBase:
    """An export's files, through the access check (another team's export is a 404)."""
    export = selectors.export_get(user=request.user, export_id=export_id)
    found = next((f for k, _, f in export.files() if k == kind), None)
    if found is None:
        raise Http404("No such file.")
    extension, content_type = exports.FILE_TYPES[kind]
    return ranged_file_response(
        request,
        found.open("rb"),
        size=found.size,
        content_type=content_type,
        filename=f"{exports.slug(export.project.name)}-{export.pk}.{extension}",
        download=request.GET.get("download", "1") == "1",
    )


# --- the composer -----------------------------------------------------------------------------


def _composer_context(
    request: TeamRequest, project: Project, form: ShotForm, shot: Shot | None
) -> dict[str, Any]:
    prompt = form["prompt"].value() or ""
    return {
        "project": project,
        "shot": shot,
        "form": form,
        "team": project.team,
        "chips": camera_chips(prompt),
        "mode_options": render_requests.mode_options(),
        "engine": engine_info(),
        "estimate": _estimate(project, form, shot),
        "watch": frozenset(),
    }


def _submit(
    request: TeamRequest, form: ShotForm, project: Project, shot: Shot | None
) -> Shot | int:
    """Save the composer into the shot and, when asked, render it. Returns the shot, or the
    status to answer with when the render was refused (the reason is on the form, and the
    shot is as it was): 409 for a key already used with other settings, else 200."""
    fields = form.shot_fields()
    picked = form.cleaned_data.get("characters") or []
    if request.POST.get("action") != "render":
        shot = (
            services.shot_create(project=project, fields=fields)
            if shot is None
            else services.shot_update(shot=shot, fields=fields)
        )
        shot.characters.set(picked)
        messages.success(request, "Shot saved.")
        return shot
    try:
        shot, jobs = services.shot_render(
            project=project,
            shot=shot,
            user=request.user,
            request=form.render_request(),
            fields=fields,
            takes=fields["variants"],
            idempotency_key=form.cleaned_data.get("idempotency_key") or "",
            picked=picked,
        )
    except UserError as exc:
        add_user_error(form, exc)
        return 409 if isinstance(exc, IdempotencyConflict) else 200
    credits = sum(j.estimate_credits for j in jobs)
    takes = f"{len(jobs)} takes" if len(jobs) > 1 else "1 take"
    messages.success(
        request, f"Rendering {takes} — {credits} credit{'s' if credits != 1 else ''} reserved."
    )
    return shot


@login_required
@require_http_methods(["GET", "POST"])
def shot_new(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    initial = ShotForm.fresh_initial()
    form = ShotForm(
        request.POST or None,
        request.FILES or None,
        team=project.team,
        sources=selectors.source_choices(user=request.user, team=project.team),
        initial=initial,
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        shot = _submit(request, form, project, None)
        if isinstance(shot, Shot):
            return redirect("project_detail", project_id=project.pk)
        status = shot
    return render(
        request,
        "storyboards/composer.html",
        _composer_context(request, project, form, None),
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def shot_edit(request: TeamRequest, shot_id: int) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    project = shot.project
    initial = ShotForm.initial_from_shot(shot) | ShotForm.fresh_initial()
    form = ShotForm(
        request.POST or None,
        request.FILES or None,
        team=project.team,
        sources=selectors.source_choices(user=request.user, team=project.team),
        initial=initial,
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        saved = _submit(request, form, project, shot)
        if isinstance(saved, Shot):
            if request.POST.get("action") == "render":
                return redirect("shot_detail", shot_id=saved.pk)
            return redirect("shot_edit", shot_id=saved.pk)
        status = saved
    return render(
        request,
        "storyboards/composer.html",
        _composer_context(request, project, form, shot),
        status=status,
    )


@login_required
@require_GET
def composer_parse(request: TeamRequest, project_id: int) -> HttpResponse:
    """Camera-language chips for the prompt. ``remove=<n>`` takes chip n's phrase out of the
    prompt and sends the edited prompt back out of band."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    prompt = request.GET.get("prompt", "")[:2000]
    removed = False
    if "remove" in request.GET:
        chips = camera_chips(prompt)
        with contextlib.suppress(ValueError, IndexError):
            prompt = prompt_without(prompt, chips[int(request.GET["remove"])])
            removed = True
    form = ShotForm({"prompt": prompt}, team=project.team)
    context = {"project": project, "chips": camera_chips(prompt), "form": form, "oob": removed}
    return render(request, _hx(request, "storyboards/composer_aid.html", "chips"), context)


def _estimate(project: Project, form: ShotForm, shot: Shot | None = None) -> dict[str, Any]:
    """Price and time for the composer's current settings, with the render service's
    objection next to the field it concerns: the same quote a render gets, as a draft (a
    GET carries no upload, and the prompt may not be written yet). A saved shot is priced
    as its storyboard boundary renders it (a continuation is an extension)."""
    team = project.team
    draft, takes = form.draft_request()
    result: dict[str, Any] = {"variants": takes, "quality": Quality(draft.quality).label}
    if shot is not None:
        draft, result["storyboard_note"] = services.storyboard_draft(shot, draft)
    try:
        picked = form.cleaned_data.get("characters") if form.is_bound else None
        locks = characters.characters_resolve(team=team, prompt=draft.prompt, picked=picked or ())
        draft = replace(draft, characters=locks)
        result["characters"] = locks
        quote = render_requests.quote(
            team=team, request=draft, takes=takes, draft=True, pending_source=True
        )
    except UserError as exc:
        result["error"], result["error_field"] = exc.message, exc.field
        return result
    result["per_take"] = quote.per_take.credits
    result["credits"] = quote.credits
    result["lines"] = quote.per_take.lines
    result["available"] = ledger.balance(team).available
    result["short"] = result["credits"] > result["available"]
    result["time"] = selectors.render_time_estimate(
        quality=draft.quality, duration_s=quote.billed_seconds, variants=takes
    )
    result["resolution_label"] = Resolution(draft.resolution).label
    return result


@login_required
@require_GET
def composer_estimate(request: TeamRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get(user=request.user, project_id=project_id)
    form = ShotForm(request.GET, team=project.team)
    shot = None
    if request.GET.get("shot"):
        shot = selectors.shot_get(user=request.user, shot_id=request.GET["shot"])
        if shot.project_id != project.pk:
            raise Http404("No such shot.")
    context = {"project": project, "estimate": _estimate(project, form, shot), "form": form}
    return render(request, _hx(request, "storyboards/composer_aid.html", "estimate"), context)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


@login_required
@require_GET
def composer_characters(request: TeamRequest, project_id: int) -> HttpResponse:
    """The composer's character picker, fetched again when a training it shows ends: the
    chip becomes selectable (or says why not). ``characters`` are the ticked chips, kept
    ticked; ``watch`` the characters whose training the picker was showing, still shown
    in their final state. Only the project team's characters are listed."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    if not request.htmx:
        return redirect("shot_new", project_id=project.pk)
    form = ShotForm(
        team=project.team, initial={"characters": _ids(request.GET.getlist("characters"))}
    )
    context = {
        "project": project,
        "form": form,
        "watch": frozenset(_ids(request.GET.getlist("watch"))),
    }
    return render(request, "storyboards/composer.html#character-picker", context)


# --- the shot page ----------------------------------------------------------------------------


_RANK = {Quality.FLASH: 0, Quality.STANDARD: 1, Quality.PRO: 2}


def take_drift(job: RenderJob, threshold: float) -> list[dict[str, Any]]:
    """Each locked character of a take: its name, the figure's similarity to its references
    (None until measured) and whether it is below the team's drift threshold."""
    scores = job.character_scores or {}
    rows = []
    for c in job.recipe.get("characters") or []:
        score = scores.get(str(c.get("id")))
        rows.append(
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "version": c.get("version"),
                "applied": c.get("applied", True),
                "score": score,
                "flagged": score is not None and score < threshold,
            }
        )
    return rows


def _character_price() -> int | None:
    try:
        return pricing.character_training_estimate().credits
    except UserError:
        return None


def _shot_context(request: TeamRequest, shot: Shot) -> dict[str, Any]:
    take = selectors.shot_take_get(shot=shot, job_id=request.GET.get("take"))
    takes = list(shot.jobs.all())
    return {
        "shot": shot,
        "project": shot.project,
        "take": take,
        "takes": takes,
        "promotions": [
            q
            for q in (Quality.STANDARD, Quality.PRO)
            if take and _RANK[q] > _RANK[Quality(take.quality)]
        ],
        "quality_labels": {q.value: q.label for q in Quality},
        "engine": engine_info(),
        "drift": take_drift(take, shot.project.team.drift_threshold) if take else [],
        "character_price": _character_price(),
        # One per action form: a double click renders once.
        "reroll_key": uuid.uuid4().hex,
        "promote_key": uuid.uuid4().hex,
    }


@login_required
@require_GET
def shot_detail(request: TeamRequest, shot_id: int) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    template = _hx(request, "storyboards/shot_detail.html", "take-result")
    return render(request, template, _shot_context(request, shot))


def _take_action(
    request: TeamRequest,
    shot_id: int,
    job_id: int,
    action: Callable[[Shot, RenderJob], RenderJob],
) -> HttpResponse:
    shot = selectors.shot_get(user=request.user, shot_id=shot_id)
    job = selectors.shot_take_get(shot=shot, job_id=job_id)
    if job is None:
        raise Http404("No such take.")
    try:
        new = action(shot, job)
    except UserError as exc:
        messages.error(request, exc.message)
        url = f"{reverse('shot_detail', args=[shot.pk])}?take={job.pk}"
    else:
        url = f"{reverse('shot_detail', args=[shot.pk])}?take={new.pk}"
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@login_required
@require_POST
def take_promote(request: TeamRequest, shot_id: int, job_id: int) -> HttpResponse:
    quality = request.POST.get("quality", "")
    key = request.POST.get("idempotency_key", "")[:64]
    return _take_action(
        request,
        shot_id,
        job_id,
        lambda shot, job: services.shot_promote(
            shot=shot, job=job, user=request.user, quality=quality, idempotency_key=key
        ),
    )


@login_required
@require_POST
def take_reroll(request: TeamRequest, shot_id: int, job_id: int) -> HttpResponse:
    key = request.POST.get("idempotency_key", "")[:64]
    return _take_action(
        request,
        shot_id,
        job_id,
        lambda shot, job: services.shot_reroll(
            shot=shot, job=job, user=request.user, idempotency_key=key
        ),
    )


@login_required
@require_POST
def take_circle(request: TeamRequest, shot_id: int, job_id: int) -> HttpResponse:
    def circle(shot: Shot, job: RenderJob) -> RenderJob:
        services.shot_set_current(shot=shot, job=job)
        return job

    return _take_action(request, shot_id, job_id, circle)


# --- header -----------------------------------------------------------------------------------


@login_required
@require_GET
def credits_badge(request: TeamRequest) -> HttpResponse:
    """The header badge, refreshed when a job on the page settles."""
    if not request.htmx:
        return redirect("team_detail", team_id=request.team.pk)
    return render(request, "storyboards/_credits_badge.html")

"""The team's characters: list, lock (from uploads or a take's frame), the character page
(references, adapter versions, takes that use it, their drift), retrain, roll back, cancel,
delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import TeamRequest
from accounts.models import Membership, Role
from billing import pricing
from billing.limits import PlanLimits
from characters import selectors, services
from characters.forms import TakeLockForm, UploadLockForm
from characters.models import CharacterAdapter
from generation import selectors as job_selectors
from generation.ranged import ranged_file_response
from studio.errors import UserError
from studio.forms import add_user_error


def _price() -> int | None:
    try:
        return pricing.character_training_estimate().credits
    except UserError:
        return None


@login_required
@require_GET
def character_list(request: TeamRequest) -> HttpResponse:
    characters = selectors.character_list(user=request.user, team=request.team)
    limits = PlanLimits.of(request.team)
    return render(
        request,
        "characters/list.html",
        {
            "characters": characters,
            "team": request.team,
            "limits": limits,
            "refusal": limits.character_refusal(characters.count()),
            "price": _price(),
            "manages": Membership.objects.filter(
                team=request.team, user=request.user, role__in=[Role.OWNER, Role.ADMIN]
            ).exists(),
        },
    )


@login_required
@require_POST
def drift_threshold(request: TeamRequest) -> HttpResponse:
    """The team's drift threshold, in percent on the form."""
    try:
        percent = float(request.POST.get("threshold", ""))
    except ValueError:
        messages.error(request, "Give the drift threshold as a percentage, 0 to 100.")
        return redirect("character_list")
    try:
        services.drift_threshold_set(team=request.team, actor=request.user, threshold=percent / 100)
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Takes below {percent:g} % likeness are flagged as drifting.")
    return redirect("character_list")


@login_required
@require_http_methods(["GET", "POST"])
def character_new(request: TeamRequest) -> HttpResponse:
    form = UploadLockForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            character = services.character_lock_from_uploads(
                team=request.team,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                images=form.frames,
            )
        except UserError as exc:
            add_user_error(form, exc)
        else:
            messages.success(request, f"Locked {character.name}: training started.")
            return redirect("character_detail", character_id=character.pk)
    return render(
        request,
        "characters/new.html",
        {"form": form, "team": request.team, "price": _price()},
        status=200,
    )


@login_required
@require_POST
def character_lock_take(request: TeamRequest) -> HttpResponse:
    """The shot page's lock: a box around the figure in a frame of a take."""
    form = TakeLockForm(request.POST)
    if not form.is_valid():
        job_id = request.POST.get("job", "")
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        messages.error(request, f"The character was not locked — {errors}")
        job = job_selectors.job_get(user=request.user, job_id=job_id)
        return _back_to_take(job.shot_id, job.pk)
    job = job_selectors.job_get(user=request.user, job_id=form.cleaned_data["job"])
    if job.team_id != request.team.pk:
        raise Http404("No such render.")
    try:
        character = services.character_lock_from_take(
            team=request.team,
            user=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            job=job,
            frame_index=form.cleaned_data["frame"],
            box=form.box(),
        )
    except UserError as exc:
        messages.error(request, f"The character was not locked: {exc.message}")
        return _back_to_take(job.shot_id, job.pk)
    messages.success(request, f"Locked {character.name}: training started.")
    return redirect("character_detail", character_id=character.pk)


def _back_to_take(shot_id: int | None, job_id: int) -> HttpResponse:
    if shot_id is None:
        return redirect("job_detail", job_id=job_id)
    return redirect(f"{reverse('shot_detail', args=[shot_id])}?take={job_id}")


@login_required
@require_GET
def character_names(request: TeamRequest) -> JsonResponse:
    """The team's character names, for the composer's ``@Name`` completion."""
    characters = selectors.character_list(user=request.user, team=request.team)
    return JsonResponse(
        {
            "characters": [
                {
                    "id": c.pk,
                    "name": c.name,
                    "ready": c.current_adapter is not None
                    and c.current_adapter.state == CharacterAdapter.State.READY,
                }
                for c in characters
            ]
        }
    )


def _detail_context(request: TeamRequest, character_id: int) -> dict:
    character = selectors.character_get(user=request.user, character_id=character_id)
    takes = selectors.character_takes(character=character)
    threshold = character.team.drift_threshold
    rows = []
    for job in takes:
        score = (job.character_scores or {}).get(str(character.pk))
        rows.append(
            {"job": job, "score": score, "flagged": score is not None and score < threshold}
        )
    return {
        "character": character,
        "adapters": list(character.adapters.all()),
        "takes": rows,
        "threshold": threshold,
        "price": _price(),
    }


@login_required
@require_GET
def character_detail(request: TeamRequest, character_id: int) -> HttpResponse:
    context = _detail_context(request, character_id)
    context["can_delete"] = services.can_delete(character=context["character"], user=request.user)
    return render(request, "characters/detail.html", context)


@login_required
@require_GET
def character_status(request: TeamRequest, character_id: int) -> HttpResponse:
    """The newest adapter's status partial (the page's fallback when the websocket drops)."""
    character = selectors.character_get(user=request.user, character_id=character_id)
    adapter = character.adapters.first()
    if adapter is None:
        raise Http404("No adapter yet.")
    return render(request, "characters/_adapter_status.html", {"adapter": adapter})


@login_required
@require_POST
def character_retrain(request: TeamRequest, character_id: int) -> HttpResponse:
    character = selectors.character_get(user=request.user, character_id=character_id)
    try:
        adapter = services.adapter_retrain(character=character, user=request.user)
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Training version {adapter.version}.")
    return redirect("character_detail", character_id=character.pk)


@login_required
@require_POST
def adapter_rollback(request: TeamRequest, character_id: int, adapter_id: int) -> HttpResponse:
    character = selectors.character_get(user=request.user, character_id=character_id)
    adapter = selectors.adapter_get(character=character, adapter_id=adapter_id)
    try:
        services.adapter_rollback(character=character, adapter=adapter)
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Renders of {character.name} now use version {adapter.version}.")
    return redirect("character_detail", character_id=character.pk)


@login_required
@require_POST
def adapter_cancel(request: TeamRequest, character_id: int, adapter_id: int) -> HttpResponse:
    character = selectors.character_get(user=request.user, character_id=character_id)
    adapter = selectors.adapter_get(character=character, adapter_id=adapter_id)
    services.adapter_cancel(adapter=adapter)
    messages.success(request, "Cancelling the training; its credits are refunded.")
    return redirect("character_detail", character_id=character.pk)


@login_required
@require_POST
def character_delete(request: TeamRequest, character_id: int) -> HttpResponse:
    """Delete on a POST that repeats the character's name: a slip of the mouse deletes
    nothing."""
    character = selectors.character_get(user=request.user, character_id=character_id)
    if request.POST.get("confirm", "").strip().lstrip("@").lower() != character.name.lower():
        messages.error(request, f"Type {character.name} to confirm deleting them.")
        return redirect("character_detail", character_id=character.pk)
    try:
        services.character_delete(character=character, user=request.user)
    except UserError as exc:
        messages.error(request, exc.message)
        return redirect("character_detail", character_id=character.pk)
    messages.success(
        request, f"Deleted {character.name}. The takes made with them stay as they were."
    )
    return redirect("character_list")


@login_required
@require_GET
def reference_image(request: TeamRequest, character_id: int, reference_id: int) -> HttpResponseBase:
    """References are served through the access check, never from a public media URL."""
    character = selectors.character_get(user=request.user, character_id=character_id)
    ref = next((r for r in character.references.all() if r.pk == reference_id), None)
    if ref is None:
        raise Http404("No such reference.")
    return ranged_file_response(
        request,
        ref.image.open("rb"),
        size=ref.image.size,
        content_type="image/png",
        filename=f"character-{character.pk}-ref-{ref.pk}.png",
        download=False,
    )

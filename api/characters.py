"""Locked characters: create one from reference images (multipart/form-data), read it and
its training, delete it. ``@Name`` in a generation's prompt then uses its adapter. Another
team's character answers 404."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from api import auth
from api.pagination import Cursor, Limit, page
from api.problems import ERRORS, ApiProblem, Problem
from api.schemas import CharacterOut, CharacterPage, Id, TrainingOut
from characters import services
from characters.models import MAX_REFERENCES, Character, CharacterAdapter
from generation.uploads import ACCEPTED, UploadRefused, frame_from_upload

router = Router()


def training_out(adapter: CharacterAdapter) -> TrainingOut:
    return TrainingOut(
        id=adapter.pk,
        version=adapter.version,
        state=adapter.state,  # type: ignore[arg-type]
        step=adapter.progress_step,
        total=adapter.progress_total,
        loss=adapter.loss,
        eta_s=adapter.eta_s,
        sha256=adapter.sha256,
        credits=adapter.cost_credits
        if adapter.cost_credits is not None
        else adapter.estimate_credits,
        error=adapter.error_message,
        created_at=adapter.created_at,
        finished_at=adapter.finished_at,
    )


def character_out(character: Character) -> CharacterOut:
    newest = character.adapters.order_by("-version").first()
    current = character.current_adapter
    return CharacterOut(
        id=character.pk,
        name=character.name,
        description=character.description,
        references=character.references.count(),
        current_version=current.version if current else None,
        training=training_out(newest) if newest else None,
        created_at=character.created_at,
    )


def _character(request: HttpRequest, character_id: int) -> Character:
    character = (
        Character.objects.select_related("current_adapter")
        .filter(team=auth.key_of(request).team, pk=character_id)
        .first()
    )
    if character is None:
        raise ApiProblem(404, "No such character.", slug="not-found")
    return character


@router.post(
    "",
    response={201: CharacterOut, 402: Problem, **ERRORS},
    auth=auth.render,
    summary="Lock a character",
    description=f"multipart/form-data: `name` (what follows @ in a prompt), an optional "
    f"`description`, and 1 to {MAX_REFERENCES} `files` ({ACCEPTED}). Reserves the price "
    "book's training price and queues the training; 402 when the team's credits do not "
    "cover it, 422 past the plan's character allowance. Nothing is saved when refused.",
)
def character_create(
    request: HttpRequest,
    name: Form[str],
    files: File[list[UploadedFile]],
    description: Form[str] = "",
) -> Status[CharacterOut]:
    key = auth.key_of(request)
    assert key.created_by is not None  # a key whose maker is gone does not authenticate
    if not 1 <= len(files) <= MAX_REFERENCES:
        raise ApiProblem(
            422, f"Send 1 to {MAX_REFERENCES} reference images.", slug="invalid", field="files"
        )
    try:
        frames = [frame_from_upload(f, field="files") for f in files]
    except UploadRefused as exc:
        raise ApiProblem(422, exc.message, slug="invalid", field="files") from exc
    character = services.character_lock_from_uploads(
        team=key.team, user=key.created_by, name=name, description=description, images=frames
    )
    return Status(201, character_out(character))


@router.get("", response={200: CharacterPage, **ERRORS}, auth=auth.read, summary="List")
def character_list(request: HttpRequest, cursor: Cursor = None, limit: Limit = 20) -> CharacterPage:
    """The team's characters, newest first."""
    characters = Character.objects.filter(team=auth.key_of(request).team).select_related(
        "current_adapter"
    )
    items, next_cursor = page(characters, cursor=cursor, limit=limit)
    return CharacterPage(items=[character_out(c) for c in items], next_cursor=next_cursor)


@router.get(
    "/{character_id}", response={200: CharacterOut, **ERRORS}, auth=auth.read, summary="Get"
)
def character_get(request: HttpRequest, character_id: Id) -> CharacterOut:
    return character_out(_character(request, character_id))


@router.get(
    "/{character_id}/training",
    response={200: TrainingOut, **ERRORS},
    auth=auth.read,
    summary="Training status",
    description="The newest adapter version: state, step of total, loss, seconds left.",
)
def character_training(request: HttpRequest, character_id: Id) -> TrainingOut:
    newest = _character(request, character_id).adapters.order_by("-version").first()
    if newest is None:
        raise ApiProblem(404, "This character has no training.", slug="not-found")
    return training_out(newest)


@router.post(
    "/{character_id}/training/cancel",
    response={200: TrainingOut, **ERRORS},
    auth=auth.render,
    summary="Cancel the training",
    description="A queued training stops now, a running one at its next step; its credits "
    "are refunded in full.",
)
def character_training_cancel(request: HttpRequest, character_id: Id) -> TrainingOut:
    newest = _character(request, character_id).adapters.order_by("-version").first()
    if newest is None:
        raise ApiProblem(404, "This character has no training.", slug="not-found")
    return training_out(services.adapter_cancel(adapter=newest))


@router.delete(
    "/{character_id}",
    response={204: None, 409: Problem, **ERRORS},
    auth=auth.render,
    summary="Delete",
    description="Deletes the character, its references and every adapter version, as its page "
    "does. Takes made with it keep their recipes; one still queued fails naming it, refunded "
    "in full. 409 while a version is queued or training (cancel it first); 403 unless the "
    "key's maker locked it or is one of the team's owners and admins.",
)
def character_delete(request: HttpRequest, character_id: Id) -> Status[None]:
    key = auth.key_of(request)
    assert key.created_by is not None  # a key whose maker is gone does not authenticate
    character = _character(request, character_id)
    try:
        services.character_delete(character=character, user=key.created_by)
    except services.CharacterBusy as exc:
        raise ApiProblem(409, exc.message, slug="training") from exc
    except services.CharacterRejected as exc:
        raise ApiProblem(403, exc.message, slug="forbidden") from exc
    return Status(204, None)

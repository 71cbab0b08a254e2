"""Images to start or end a generation from: upload once, then name the upload in
``keyframes`` (multipart/form-data with one ``file``)."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from ninja import File, Router, Status
from ninja.files import UploadedFile
from PIL import Image

from api import auth
from api.models import Upload
from api.problems import ApiProblem, Problem
from api.schemas import Id, UploadOut
from generation.requests import MAX_IMAGE_BYTES

router = Router()

ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 429: Problem}
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def _refuse(detail: str) -> ApiProblem:
    return ApiProblem(422, detail, slug="invalid", field="file")


@router.post(
    "",
    response={201: UploadOut, **ERRORS},
    auth=auth.render,
    summary="Upload an image",
    description="PNG, JPEG or WebP, up to 20 MB: a start or end frame for a generation.",
)
def upload_create(request: HttpRequest, file: File[UploadedFile]) -> Status[UploadOut]:
    key = auth.key_of(request)
    if file.size is None or file.size > MAX_IMAGE_BYTES:
        raise _refuse("Images are limited to 20 MB.")
    try:
        file.seek(0)
        with Image.open(file) as img:
            fmt = img.format or ""
            width, height = img.size
            img.verify()
    except Exception as exc:  # an upload is untrusted: PIL raises many types for a bad file
        raise _refuse("That file is not an image we can read (PNG, JPEG or WebP).") from exc
    if fmt not in FORMATS:
        raise _refuse("Send a PNG, JPEG or WebP image.")
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    upload = Upload(
        team=key.team,
        bytes=file.size,
        width=width,
        height=height,
        content_type=FORMATS[fmt],
        sha256=digest.hexdigest(),
        created_by=key.created_by,
    )
    upload.file.save(f"{digest.hexdigest()[:16]}.{fmt.lower()}", file, save=False)
    upload.save()
    return Status(201, UploadOut.model_validate(upload, from_attributes=True))


@router.get("/{upload_id}", response={200: UploadOut, **ERRORS}, auth=auth.read, summary="Get")
def upload_get(request: HttpRequest, upload_id: Id) -> UploadOut:
    upload = Upload.objects.filter(team=auth.key_of(request).team, pk=upload_id).first()
    if upload is None:
        raise ApiProblem(404, "No such upload.", slug="not-found")
    return UploadOut.model_validate(upload, from_attributes=True)

"""Images to start or end a generation from: upload once, then name the upload in
``keyframes`` (multipart/form-data with one ``file``)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import File, Router, Status
from ninja.files import UploadedFile

from api import auth
from api.models import Upload
from api.problems import ERRORS, ApiProblem
from api.schemas import Id, UploadOut
from generation.uploads import ACCEPTED, UploadRefused, frame_from_upload

router = Router()


def _refuse(detail: str) -> ApiProblem:
    return ApiProblem(422, detail, slug="invalid", field="file")


@router.post(
    "",
    response={201: UploadOut, **ERRORS},
    auth=auth.render,
    summary="Upload an image",
    description=f"{ACCEPTED}, up to 20 MB and 8K: a start or end frame for a generation. "
    "Kept as a PNG of its pixels alone (EXIF and other metadata are dropped).",
)
def upload_create(request: HttpRequest, file: File[UploadedFile]) -> Status[UploadOut]:
    key = auth.key_of(request)
    try:
        frame = frame_from_upload(file, field="file")
    except UploadRefused as exc:
        raise _refuse(exc.message) from exc
    upload = Upload(
        team=key.team,
        bytes=len(frame.png),
        width=frame.width,
        height=frame.height,
        content_type="image/png",
        sha256=frame.sha256,
        created_by=key.created_by,
    )
    # What is kept is the pixels alone, re-encoded: no EXIF, location or comments.
    upload.file.save(f"{frame.sha256[:16]}.png", frame.as_file(), save=False)
    upload.save()
    return Status(201, UploadOut.model_validate(upload, from_attributes=True))


@router.get("/{upload_id}", response={200: UploadOut, **ERRORS}, auth=auth.read, summary="Get")
def upload_get(request: HttpRequest, upload_id: Id) -> UploadOut:
    upload = Upload.objects.filter(team=auth.key_of(request).team, pk=upload_id).first()
    if upload is None:
        raise ApiProblem(404, "No such upload.", slug="not-found")
    return UploadOut.model_validate(upload, from_attributes=True)

"""Errors as RFC 9457 problem details (``application/problem+json``), with the field that is
wrong: ``field`` names it as the request spells it (``camera.focal_mm``, ``limit``) and, for
a body field, ``pointer`` is its JSON pointer. A validation error lists each field in
``errors``. Every refusal a service raises (a ``UserError``) says the same sentence the
studio's pages show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Schema

MEDIA_TYPE = "application/problem+json"

# The services name the studio's form fields; the API names its own.
SERVICE_FIELDS = {
    "source_job": "source_generation_id",
    "image": "keyframes.start",
    "end_image": "keyframes.end",
    "duration_s": "duration_s",
    "variants": None,
    "name": "name",
}

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Not enough credits",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Server error",
}


class FieldProblem(Schema):
    field: str
    detail: str
    location: str  # body, query, path or header
    pointer: str | None = None


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    pointer: str | None = None
    errors: list[FieldProblem] = []


class ApiProblem(Exception):
    """A problem raised from API code; ``slug`` names its type."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str = "",
        field: str | None = None,
        location: str = "body",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.location = location
        self.status = status
        self.detail = detail
        self.slug = slug
        self.field = field
        self.headers = headers or {}


def pointer_of(field: str | None) -> str | None:
    return "/" + field.replace(".", "/") if field else None


def api_field(service_field: str | None) -> str | None:
    if service_field is None:
        return None
    return SERVICE_FIELDS.get(service_field, service_field)


def problem(
    request: HttpRequest,
    status: int,
    detail: str,
    *,
    slug: str = "",
    field: str | None = None,
    location: str = "body",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body = {
        "type": f"urn:dailies:problem:{slug}" if slug else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "field": field,
        "pointer": pointer_of(field) if location == "body" else None,
        "errors": errors or [],
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# The problem documents every endpoint may answer, for its OpenAPI responses.
ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 429: Problem}


def file_download(media_types: Iterable[str]) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint whose 200 is a file, in one of ``media_types``."""
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}
    return {"responses": {200: {"description": "The file.", "content": content}}}

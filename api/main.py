"""The public API, ``/api/v1/``: django-ninja with typed schemas, its OpenAPI 3 document at
``/api/v1/openapi.json`` and its docs page at ``/api/v1/docs`` (Swagger UI from static
files, no CDN).

Every operation acts for the team of its key, through the services the studio's pages use
(``generation.requests.quote``, ``generation.services``, ``storyboards.services``,
``billing.ledger``). Another team's object answers 404, whatever the endpoint.

Storyboard exports (``api.exports``) are queued and run by ``storyboards.services``, as the
project page's button does, and downloaded behind the same team check. Characters
(``api.characters``) are locked from references and trained through ``characters.services``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.errors import HttpError as NinjaHttpError

from api import characters, credits, exports, generations, projects, uploads
from api.problems import MEDIA_TYPE, ApiProblem, api_field, problem
from billing.ledger import InsufficientCredits
from generation.requests import SourceNotFound
from generation.services import IdempotencyConflict
from moderation.services import ContentBlocked
from studio.errors import UserError

log = logging.getLogger(__name__)


class DailiesAPI(NinjaAPI):
    def create_response(
        self, request: HttpRequest, data: Any, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return with_rate_headers(request, super().create_response(request, data, *args, **kwargs))

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Errors are documented as what they are: ``application/problem+json``."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[MEDIA_TYPE] = content.pop("application/json")
        return schema


def with_rate_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    decision = getattr(request, "rate_limit", None)
    if decision is not None:
        response["RateLimit-Limit"] = str(decision.limit)
        response["RateLimit-Remaining"] = str(decision.remaining)
        response["RateLimit-Reset"] = str(decision.reset_s)
    return response


api = DailiesAPI(
    title="Dailies API",
    version="1",
    description=(
        "Script the studio: render generations, arrange projects and shots, export storyboards, "
        "read credits. "
        "Authenticate with `Authorization: Bearer <key>` (a key from your team page). "
        "Errors are RFC 9457 problem details naming the field that is wrong. "
        "The guide with a curl quickstart, webhooks and their signatures is docs/api.md."
    ),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

api.add_router("/generations", generations.router, tags=["generations"])
api.add_router("/uploads", uploads.router, tags=["uploads"])
api.add_router("/", projects.router, tags=["projects and shots"])
api.add_router("/credits", credits.router, tags=["credits"])
api.add_router("/", exports.router, tags=["storyboard exports"])
api.add_router("/characters", characters.router, tags=["characters"])


def _respond(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    return with_rate_headers(request, response)


@api.exception_handler(ApiProblem)
def _api_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return _respond(
        request,
        problem(
            request,
            exc.status,
            exc.detail,
            slug=exc.slug,
            field=exc.field,
            location=exc.location,
            headers=exc.headers,
        ),
    )


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(
        request,
        401,
        "Send a live API key: Authorization: Bearer <key>. Keys are made and revoked on "
        "your team page.",
        slug="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="dailies"'},
    )


def _location(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(where, field) of a pydantic error location like ("body", "payload", "camera", 0)."""
    where = str(loc[0]) if loc else "body"
    parts = [str(p) for p in loc[1:]]
    if where == "body" and parts:
        parts = parts[1:]  # the operation's parameter name, not part of the body
    return where, ".".join(parts)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        where, field = _location(tuple(error.get("loc", ())))
        errors.append(
            {
                "field": field or where,
                "detail": str(error.get("msg", "is not valid")),
                "location": where,
                "pointer": ("/" + field.replace(".", "/")) if where == "body" else None,
            }
        )
    first: dict[str, str | None] = (
        errors[0] if errors else {"field": None, "location": "body", "detail": ""}
    )
    detail = "; ".join(f"{e['field']}: {e['detail']}" for e in errors) or "Invalid request."
    return _respond(
        request,
        problem(
            request,
            422,
            detail,
            slug="invalid",
            field=first["field"],
            location=first["location"] or "body",
            errors=errors,
        ),
    )


@api.exception_handler(NinjaHttpError)
def _http_error(request: HttpRequest, exc: NinjaHttpError) -> HttpResponse:
    # Ninja's own: a body that is not JSON, a form that cannot be parsed.
    return _respond(request, problem(request, exc.status_code, str(exc), slug="bad-request"))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _respond(request, problem(request, 404, str(exc) or "No such object.", slug="not-found"))


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        detail = "The body is too large: send images to /uploads as multipart/form-data."
        return _respond(request, problem(request, 413, detail, slug="too-large"))
    return _respond(request, problem(request, 400, str(exc), slug="bad-request"))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _respond(request, problem(request, 403, str(exc) or "Forbidden.", slug="forbidden"))


@api.exception_handler(UserError)
def _refused(request: HttpRequest, exc: UserError) -> HttpResponse:
    """A service's refusal: the sentence the studio shows, and the field it concerns."""
    field = api_field(exc.field)
    if isinstance(exc, SourceNotFound):
        return _respond(request, problem(request, 404, exc.message, slug="not-found", field=field))
    if isinstance(exc, InsufficientCredits):
        return _respond(request, problem(request, 402, exc.message, slug="insufficient-credits"))
    slug = "refused"
    if isinstance(exc, IdempotencyConflict):
        slug, field = "idempotency-key-reused", "Idempotency-Key"
        return _respond(
            request,
            problem(request, 422, exc.message, slug=slug, field=field, location="header"),
        )
    if isinstance(exc, ContentBlocked):
        slug, field = "content-blocked", "prompt"
    return _respond(request, problem(request, 422, exc.message, slug=slug, field=field))


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API error on %s %s", request.method, request.path)
    return problem(request, 500, "Something went wrong on our side.", slug="server-error")

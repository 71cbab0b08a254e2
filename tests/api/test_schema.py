"""The API against its own OpenAPI document, by schemathesis: generated requests, valid and
invalid, to every operation; no answer may be a server error, and every answer must match
the document (status code, content type, body, headers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.api.conftest import api_client

# The document is fetched at collection, before any settings fixture: the handler speaks plain
# HTTP, as the test client does (tests/conftest.py), so HTTPS is not asked for.
django_settings.SECURE_SSL_REDIRECT = False
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=12,
    deterministic=True,
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@pytest.fixture
def bearer(seeded) -> Iterator[dict[str, str]]:
    """A key of a team with credits to spare and no rate limit in the way."""
    client = api_client(plan_code="enterprise", credits=100_000)
    plan = client.team.plan
    plan.api_requests_per_minute = 1_000_000
    plan.save()
    # Objects with ids 1…: the generated ids find some of them, and miss most.
    client.post("/api/v1/projects", {"name": "A project"})
    client.post("/api/v1/generations", {"prompt": "a first generation", "quality": "flash"})
    # The WSGI handler closes the database connection around each request, as a server
    # should; inside a test's transaction it must not (Django's test client does the same,
    # and reconnects them after each of its requests: hence after the calls above).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Bearer {client.token}"}
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_matches_its_schema(case, bearer) -> None:
    case.call_and_validate(headers=bearer, checks=CHECKS)

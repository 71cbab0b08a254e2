"""The OpenAPI document and the docs page: served without a key, readable by any parser, and
the docs page loads nothing from outside the studio."""

from __future__ import annotations

import json
import re

from django.contrib.staticfiles import finders
from django.test import Client


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return dict(pairs)


def test_the_openapi_document_is_strict_json_and_documents_problems() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content, object_pairs_hook=_no_duplicate_keys)
    assert schema["openapi"].startswith("3.")
    create = schema["paths"]["/api/v1/generations"]["post"]
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert create["security"] == [{"KeyAuth": []}]
    assert {p["name"] for p in create["parameters"]} == {"Idempotency-Key"}


def test_the_docs_page_uses_the_studios_own_static_files() -> None:
    page = Client().get("/api/v1/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source

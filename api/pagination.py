"""Cursor pagination, newest first: a cursor names the last item of a page, so a page
stays the same while new items arrive ahead of it (offsets would shift)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, TypeVar

from django.db.models import Model, QuerySet
from pydantic import Field

from api.problems import ApiProblem

M = TypeVar("M", bound=Model)

Limit = Annotated[int, Field(ge=1, le=100)]
Cursor = Annotated[str | None, Field(max_length=64, pattern=r"^[A-Za-z0-9_=-]*$")]


def encode(pk: int) -> str:
    return base64.urlsafe_b64encode(f"after:{pk}".encode()).decode()


def decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        kind, _, value = text.partition(":")
        pk = int(value)
        if kind != "after" or pk < 1:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiProblem(
            422,
            "That cursor is not one this API gave out: pass next_cursor as it came.",
            slug="invalid",
            field="cursor",
            location="query",
        ) from exc
    return pk


def page(queryset: QuerySet[M], *, cursor: str | None, limit: int) -> tuple[list[M], str | None]:
    """A page of ``queryset`` by descending primary key, and the cursor of the next one."""
    queryset = queryset.order_by("-pk")
    if cursor:
        queryset = queryset.filter(pk__lt=decode(cursor))
    items = list(queryset[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    return items, encode(items[-1].pk) if more and items else None

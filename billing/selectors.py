"""Reads of a team's credits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import Page, Paginator

from billing.models import LedgerEntry

if TYPE_CHECKING:
    from accounts.models import Team


def ledger_page(*, team: Team, page: int | str | None, per_page: int = 20) -> Page[LedgerEntry]:
    entries = LedgerEntry.objects.filter(team=team).select_related("actor", "reservation")
    return Paginator(entries, per_page).get_page(page)

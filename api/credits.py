"""The team's credits: balance, ledger, and what a generation would cost."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from api import auth
from api.generations import render_request
from api.pagination import Cursor, Limit, page
from api.problems import ERRORS
from api.schemas import (
    Balance,
    EstimateLine,
    EstimateOut,
    GenerationCreate,
    LedgerEntryOut,
    LedgerPage,
)
from billing import ledger
from billing.models import LedgerEntry
from generation import requests

router = Router()


@router.get("", response={200: Balance, **ERRORS}, auth=auth.read, summary="Balance")
def balance(request: HttpRequest) -> Balance:
    team = auth.key_of(request).team
    account = ledger.balance(team)
    return Balance(
        available=account.available,
        monthly=account.monthly,
        topup=account.topup,
        held=account.held,
        plan=team.plan.name,
        monthly_credits=team.monthly_credits,
        period_start=account.period_start,
        next_billing_date=ledger.next_billing_date(team.billing_anchor, timezone.localdate()),
        api_requests_per_minute=team.plan.api_requests_per_minute,
    )


@router.get("/ledger", response={200: LedgerPage, **ERRORS}, auth=auth.read, summary="Ledger")
def ledger_list(request: HttpRequest, cursor: Cursor = None, limit: Limit = 20) -> LedgerPage:
    """Every credit movement, newest first: grants, top-ups, reservations, settlements."""
    entries = LedgerEntry.objects.filter(team=auth.key_of(request).team).select_related(
        "reservation__job"
    )
    items, next_cursor = page(entries, cursor=cursor, limit=limit)
    data = []
    for entry in items:
        job = getattr(entry.reservation, "job", None) if entry.reservation else None
        data.append(
            LedgerEntryOut(
                id=entry.pk,
                kind=entry.kind,
                label=entry.get_kind_display(),
                available_delta=entry.available_delta,
                monthly_delta=entry.monthly_delta,
                topup_delta=entry.topup_delta,
                held_delta=entry.held_delta,
                available_after=entry.monthly_after + entry.topup_after,
                held_after=entry.held_after,
                memo=entry.memo,
                generation_id=job.pk if job else None,
                created_at=entry.created_at,
            )
        )
    return LedgerPage(data=data, next_cursor=next_cursor)


@router.post(
    "/estimate",
    response={200: EstimateOut, **ERRORS},
    auth=auth.read,
    summary="Estimate a generation",
    description="What `POST /generations` with this body would reserve, by the same quote; "
    "nothing is spent, and the prompt is not yet checked against the content policy.",
)
def estimate(request: HttpRequest, payload: GenerationCreate) -> EstimateOut:
    team = auth.key_of(request).team
    quote = requests.quote(team=team, request=render_request(team, payload), draft=True)
    available = ledger.balance(team).available
    return EstimateOut(
        credits=quote.credits,
        billed_seconds=quote.billed_seconds,
        render_resolution=quote.per_take.render_resolution,
        lines=[EstimateLine(label=label, value=value) for label, value in quote.per_take.lines],
        available=available,
        enough=quote.credits <= available,
    )

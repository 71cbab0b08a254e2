"""The plans page and the price estimate anyone may ask for."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing import pricing
from billing.forms import EstimateForm
from billing.models import Plan
from generation.vocabulary import Quality, Resolution

if TYPE_CHECKING:
    from accounts.http import HtmxRequest


@require_GET
def plans(request: HttpRequest) -> HttpResponse:
    book = None
    rows = []
    with contextlib.suppress(pricing.PricingError):
        book = pricing.active_book()
    if book:
        for quality in Quality:
            rows.append(
                (
                    quality.label,
                    [
                        pricing.estimate(
                            duration_s=5, resolution=res, quality=quality, book=book
                        ).credits
                        for res in (Resolution.P720, Resolution.P1080, Resolution.P2160)
                    ],
                )
            )
    form = EstimateForm(initial={"duration_s": 5, "resolution": Resolution.P1080})
    first = (
        pricing.estimate(
            duration_s=5, resolution=Resolution.P1080, quality=Quality.STANDARD, book=book
        )
        if book
        else None
    )
    return render(
        request,
        "billing/plans.html",
        {"plans": Plan.objects.all(), "price_rows": rows, "estimate_form": form, "estimate": first},
    )


@require_GET
def estimate(request: HtmxRequest) -> HttpResponse:
    """Live cost estimate for the composer and the plans page."""
    form = EstimateForm(request.GET or None)
    result = error = None
    if form.is_valid():
        try:
            result = pricing.estimate(**form.cleaned_data)
        except pricing.PricingError as exc:
            error = str(exc)
    template = "billing/plans.html#estimate" if request.htmx else "billing/estimate.html"
    return render(
        request, template, {"estimate_form": form, "estimate": result, "estimate_error": error}
    )

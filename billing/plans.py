"""The four plan tiers as seeded (seed article 000); admins edit them afterwards."""

from __future__ import annotations

from django.db import transaction

from billing.models import Plan
from generation.vocabulary import Resolution

DEFAULT_PLAN_CODE = "free"

SEED_PLANS: tuple[dict, ...] = (
    {
        "code": "free",
        "max_characters": 1,
        "api_requests_per_minute": 30,
        "name": "Free",
        "price_cents": 0,
        "monthly_credits": 30,
        "max_resolution": Resolution.P720,
        "max_duration_s": 5,
        "commercial_licence": False,
        "queue_priority": 0,
    },
    {
        "code": "standard",
        "max_characters": 5,
        "api_requests_per_minute": 120,
        "name": "Standard",
        "price_cents": 2400,
        "monthly_credits": 500,
        "max_resolution": Resolution.P1080,
        "max_duration_s": 10,
        "commercial_licence": True,
        "queue_priority": 3,
    },
    {
        "code": "pro",
        "max_characters": 20,
        "api_requests_per_minute": 600,
        "name": "Pro",
        "price_cents": 7900,
        "monthly_credits": 2000,
        "max_resolution": Resolution.P1440,
        "max_duration_s": 10,
        "commercial_licence": True,
        "queue_priority": 6,
    },
    {
        "code": "enterprise",
        "max_characters": 20,
        "api_requests_per_minute": 3000,
        "name": "Enterprise",
        "price_cents": None,
        "monthly_credits": 10000,
        "max_resolution": Resolution.P2160,
        "max_duration_s": 30,
        "commercial_licence": True,
        "indemnity": True,
        "queue_priority": 9,
        "is_custom": True,
    },
)


@transaction.atomic
def plans_seed() -> list[Plan]:
    """Create the four plans if missing; never overwrite an admin's edits."""
    plans = []
    for order, values in enumerate(SEED_PLANS):
        defaults = {k: v for k, v in values.items() if k != "code"} | {"sort_order": order}
        plan, _ = Plan.objects.get_or_create(code=values["code"], defaults=defaults)
        plans.append(plan)
    return plans

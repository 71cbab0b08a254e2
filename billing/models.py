"""A team's plan, its credits and what renders cost.

Credits move only through ``ledger.py``, in one transaction, on an append-only ledger;
``pricing.py`` turns a request into credits with the active price book.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.vocabulary import RESOLUTION_CHOICES


class Plan(models.Model):
    """A subscription tier. Seeded with Free, Standard, Pro and Enterprise; editable in admin."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    price_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Monthly price in US cents; empty for custom pricing."
    )
    monthly_credits = models.PositiveIntegerField(
        help_text="Credits granted on each billing date; unused ones expire then."
    )
    max_resolution = models.PositiveIntegerField(choices=RESOLUTION_CHOICES)
    max_duration_s = models.PositiveSmallIntegerField(help_text="Longest single clip, seconds.")
    commercial_licence = models.BooleanField(default=False)
    indemnity = models.BooleanField(default=False)
    queue_priority = models.PositiveSmallIntegerField(
        default=0, help_text="0–9; renders of higher-priority plans start first."
    )
    is_custom = models.BooleanField(
        default=False, help_text="Limits and credits are negotiated per team (Enterprise)."
    )
    api_requests_per_minute = models.PositiveIntegerField(
        default=60, help_text="Requests each API key of a team on this plan may make a minute."
    )
    max_characters = models.PositiveSmallIntegerField(
        default=1, help_text="Locked characters a team on this plan may keep."
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(queue_priority__lte=9), name="plan_queue_priority_0_9"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def price_label(self) -> str:
        if self.price_cents is None:
            return "Custom"
        return f"${self.price_cents / 100:,.0f}/mo" if self.price_cents else "Free"


class CreditAccount(models.Model):
    """A team's balance, cached from its ledger and updated in the same transaction.

    ``check_ledger`` verifies it against the entries. Two spendable pools: monthly credits
    (spent first, expire at the billing date) and top-up credits (carry over). ``held`` is
    what open reservations set aside.
    """

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.PROTECT, related_name="credit_account"
    )
    monthly = models.IntegerField(default=0)
    topup = models.IntegerField(default=0)
    held = models.IntegerField(default=0)
    period_start = models.DateField(
        null=True, blank=True, help_text="Start of the billing period last granted."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(monthly__gte=0), name="account_monthly_gte_0"),
            models.CheckConstraint(condition=Q(topup__gte=0), name="account_topup_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="account_held_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.available} available"

    @property
    def available(self) -> int:
        return self.monthly + self.topup


class Reservation(models.Model):
    """Credits set aside for one piece of work, settled once or released once."""

    class State(models.TextChoices):
        HELD = "held", "Held"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="reservations")
    credits = models.PositiveIntegerField()
    monthly_part = models.PositiveIntegerField()
    topup_part = models.PositiveIntegerField()
    period_start = models.DateField(
        null=True, blank=True, help_text="Billing period the monthly part was drawn from."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.HELD)
    spent = models.PositiveIntegerField(default=0)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(credits=models.F("monthly_part") + models.F("topup_part")),
                name="reservation_parts_sum",
            ),
            models.CheckConstraint(
                condition=Q(spent__lte=models.F("credits")), name="reservation_spent_lte_credits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credits} credits for {self.memo or self.team} ({self.state})"


class LedgerEntryQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("Ledger entries are append-only: write a new entry instead.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Ledger entries are append-only: write a new entry instead.")


class LedgerEntry(models.Model):
    """One credit movement. Append-only: never updated, never deleted.

    The deltas say how each pool moved; ``*_after`` snapshot the account afterwards so the
    history reads like a bank statement.
    """

    class Kind(models.TextChoices):
        GRANT = "grant", "Monthly grant"
        EXPIRY = "expiry", "Monthly credits expired"
        TOPUP = "topup", "Top-up"
        RESERVE = "reserve", "Reserved"
        SETTLE = "settle", "Spent"
        RELEASE = "release", "Released"
        ADJUST = "adjust", "Adjustment"

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    monthly_delta = models.IntegerField(default=0)
    topup_delta = models.IntegerField(default=0)
    held_delta = models.IntegerField(default=0)
    monthly_after = models.IntegerField()
    topup_after = models.IntegerField()
    held_after = models.IntegerField()
    reservation = models.ForeignKey(
        Reservation, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    period_start = models.DateField(null=True, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            # The monthly cycle's idempotency, enforced by the database itself: one grant
            # and one period-end expiry per team and billing period.
            models.UniqueConstraint(
                fields=["team", "kind", "period_start"],
                condition=Q(kind__in=["grant", "expiry"], reservation__isnull=True),
                name="ledger_one_cycle_entry_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.available_delta:+d} ({self.team})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Ledger entries are append-only: write a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("Ledger entries are append-only: write a new entry instead.")

    @property
    def available_delta(self) -> int:
        return self.monthly_delta + self.topup_delta


class PriceBook(models.Model):
    """The active pricing rules. Only one book is active at a time."""

    name = models.CharField(max_length=80)
    is_active = models.BooleanField(default=False)
    base_credits = models.PositiveIntegerField(
        default=10, help_text="Credits for the reference clip: 1080p, Standard, text-to-video."
    )
    base_seconds = models.PositiveSmallIntegerField(
        default=5, help_text="Length of the reference clip, seconds."
    )
    upscale_4k_credits = models.PositiveIntegerField(
        default=4, help_text="4K upscale surcharge per reference-clip length."
    )
    character_training_credits = models.PositiveIntegerField(
        default=20, help_text="Training one character adapter on its references."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_active", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="pricebook_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"


class PricingFactor(models.Model):
    """A multiplier on the reference price for one value of one dimension.

    Stored as a fraction so "Flash costs a third of Standard, rounded up" is exact.
    """

    class Dimension(models.TextChoices):
        RESOLUTION = "resolution", "Resolution"
        QUALITY = "quality", "Quality"
        MODE = "mode", "Mode"

    book = models.ForeignKey(PriceBook, on_delete=models.CASCADE, related_name="factors")
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    key = models.CharField(max_length=16, help_text="e.g. 720, flash, i2v")
    numerator = models.PositiveIntegerField(default=1)
    denominator = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["book", "dimension", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["book", "dimension", "key"], name="pricingfactor_unique_key"
            ),
            models.CheckConstraint(condition=Q(denominator__gt=0), name="pricingfactor_denom_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.key}: ×{self.numerator}/{self.denominator}"

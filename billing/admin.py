"""Django admin for plans, prices and credits. The ledger is read-only here: credits change
only through the team admin's actions, which write entries via ``ledger``."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from billing.models import CreditAccount, LedgerEntry, Plan, PriceBook, PricingFactor, Reservation


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name", "price_label", "monthly_credits", "max_resolution", "max_duration_s",
        "commercial_licence", "indemnity", "queue_priority", "api_requests_per_minute",
    ]  # fmt: skip
    list_editable = ["monthly_credits", "queue_priority", "api_requests_per_minute"]


@admin.register(CreditAccount)
class CreditAccountAdmin(_ReadOnlyAdmin):
    list_display = ["team", "monthly", "topup", "held", "period_start", "updated_at"]
    search_fields = ["team__name"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(_ReadOnlyAdmin):
    list_display = [
        "created_at", "team", "kind", "monthly_delta", "topup_delta", "held_delta",
        "monthly_after", "topup_after", "memo", "actor",
    ]  # fmt: skip
    list_filter = ["kind"]
    search_fields = ["team__name", "memo"]
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "team", "credits", "spent", "state", "memo"]
    list_filter = ["state"]


class PricingFactorInline(admin.TabularInline):
    model = PricingFactor
    extra = 0


@admin.register(PriceBook)
class PriceBookAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "base_credits", "base_seconds", "upscale_4k_credits"]
    inlines = [PricingFactorInline]

"""Django admin for the platform. The ledger is read-only: credits change only through
the "Adjust credits" and "Record top-up" actions, which write entries via ``ledger``."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dailies import ledger
from dailies.forms import AdjustCreditsForm, TopupForm
from dailies.models import (
    CreditAccount,
    LedgerEntry,
    Membership,
    ModerationDecision,
    ModerationTerm,
    Plan,
    PriceBook,
    PricingFactor,
    Reservation,
    Team,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name", "price_label", "monthly_credits", "max_resolution", "max_duration_s",
        "commercial_licence", "indemnity", "queue_priority",
    ]  # fmt: skip
    list_editable = ["monthly_credits", "queue_priority"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _team_form_action(
    form_class: type[forms.Form], title: str, apply: Callable[..., object]
) -> Callable[..., HttpResponse | None]:
    """An admin action that asks for a small form, then applies it to each selected team."""

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Team]
    ) -> HttpResponse | None:
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for team in queryset:
                    try:
                        apply(team=team, actor=request.user, **form.cleaned_data)
                    except ledger.LedgerError as exc:
                        modeladmin.message_user(request, f"{team}: {exc}", messages.ERROR)
                    else:
                        modeladmin.message_user(request, f"{team}: done.", messages.SUCCESS)
                return None
        else:
            form = form_class()
        return render(
            request,
            "admin/dailies/team_credit_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": title,
                "form": form,
                "teams": queryset,
                "action": request.POST["action"],
                "opts": modeladmin.model._meta,
            },
        )

    action.short_description = title
    action.__name__ = form_class.__name__.lower()
    return action


adjust_credits = _team_form_action(
    AdjustCreditsForm,
    "Adjust credits",
    lambda *, team, actor, credits, reason: ledger.adjust(
        team=team, credits=credits, reason=reason, actor=actor
    ),
)
record_topup = _team_form_action(
    TopupForm,
    "Record top-up",
    lambda *, team, actor, credits, memo: ledger.topup(
        team=team, credits=credits, memo=memo, actor=actor
    ),
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "plan",
        "is_personal",
        "billing_anchor",
        "available_credits",
        "created_at",
    ]
    list_filter = ["plan", "is_personal"]
    search_fields = ["name", "memberships__user__email"]
    inlines = [MembershipInline]
    actions = [adjust_credits, record_topup]

    @admin.display(description="Available credits")
    def available_credits(self, team: Team) -> int:
        return ledger.balance(team).available


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


@admin.register(ModerationTerm)
class ModerationTermAdmin(admin.ModelAdmin):
    list_display = ["phrase", "category", "is_active", "created_at"]
    list_filter = ["category", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["phrase"]


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "team", "user", "source", "excerpt", "matched"]
    list_filter = ["source"]
    search_fields = ["excerpt", "team__name"]

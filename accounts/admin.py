"""Django admin for people and teams. A team's credits change only through the "Adjust
credits" and "Record top-up" actions, which write ledger entries via ``billing.ledger``."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import ApiKey, Membership, Team, User
from billing import ledger
from billing.forms import AdjustCreditsForm, TopupForm


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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


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
            "admin/accounts/team_credit_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": title,
                "form": form,
                "teams": queryset,
                "action": request.POST["action"],
                "opts": modeladmin.model._meta,
            },
        )

    action.__name__ = form_class.__name__.lower()
    return admin.action(description=title)(action)


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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made on the team page (their secret is shown once there); here they can be
    looked up and revoked."""

    list_display = ["name", "team", "prefix", "scopes", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "team__name"]
    readonly_fields = ["team", "prefix", "key_sha256", "scopes", "created_by", "last_used_at"]
    fields = [*readonly_fields, "name", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

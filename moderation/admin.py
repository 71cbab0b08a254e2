"""Django admin for the content policy and its audit trail (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from moderation.models import ModerationDecision, ModerationTerm


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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

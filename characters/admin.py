"""Admin for characters and their adapter versions, listed per team. States change only
through services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from characters import lifecycle
from characters.models import Character, CharacterAdapter, CharacterReference


class ReferenceInline(admin.TabularInline):
    model = CharacterReference
    extra = 0
    can_delete = False
    readonly_fields = ["image", "sha256", "source_job", "frame_index", "box", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["pk", "name", "team", "current_adapter", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "team__name"]
    readonly_fields = ["team", "created_by", "current_adapter", "created_at"]
    inlines = [ReferenceInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CharacterAdapter)
class CharacterAdapterAdmin(admin.ModelAdmin):
    list_display = [
        "pk", "character", "team", "version", "state", "progress_step", "progress_total",
        "estimate_credits", "cost_credits", "seconds", "created_at",
    ]  # fmt: skip
    list_filter = ["state", "character__team"]
    search_fields = ["character__name", "character__team__name"]
    actions = ["cancel_adapters"]

    @admin.display(description="Team")
    def team(self, obj: CharacterAdapter) -> str:
        return str(obj.character.team)

    def get_readonly_fields(
        self, request: HttpRequest, obj: CharacterAdapter | None = None
    ) -> list[str]:
        return [f.name for f in CharacterAdapter._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Cancel (refunds what was reserved)")
    def cancel_adapters(self, request: HttpRequest, queryset: QuerySet[CharacterAdapter]) -> None:
        for adapter in queryset:
            lifecycle.adapter_cancel(adapter=adapter)
        self.message_user(request, f"Cancel requested for {queryset.count()}.", messages.SUCCESS)

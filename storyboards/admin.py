"""Admin for projects and their shots: find, inspect, archive. Renders are in the render
jobs' admin; shots are edited in the studio, where the composer checks them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from storyboards.models import Project, Shot


class ShotInline(admin.TabularInline):
    model = Shot
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "position", "title", "mode", "duration_s", "aspect", "quality", "current_job",
    )  # fmt: skip
    ordering = ["position"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["pk", "name", "team", "created_by", "archived", "updated_at"]
    list_filter = ["archived"]
    search_fields = ["name", "team__name", "created_by__email"]
    list_select_related = ["team", "created_by"]
    readonly_fields = ("team", "created_by", "created_at", "updated_at")
    fields = ("name", "archived", *readonly_fields)
    inlines = [ShotInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a project belongs to a team: made in the studio or the API


@admin.register(Shot)
class ShotAdmin(admin.ModelAdmin):
    list_display = ["pk", "__str__", "project", "position", "mode", "quality", "updated_at"]
    list_filter = ["mode", "quality", "aspect"]
    search_fields = ["title", "prompt", "project__name", "project__team__name"]
    list_select_related = ["project", "project__team"]
    raw_id_fields = ["current_job"]

    def get_readonly_fields(self, request: HttpRequest, obj: Shot | None = None) -> list[str]:
        return [f.name for f in Shot._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

"""Admin for render jobs: inspect, filter, cancel. States change only through services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from generation import lifecycle
from generation.models import Artifact, RenderJob


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "file", "bytes", "width", "height", "frames", "fps", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = [
        "pk", "team", "state", "mode", "quality", "resolution", "duration_s",
        "estimate_credits", "cost_credits", "attempts", "created_at",
    ]  # fmt: skip
    list_filter = ["state", "mode", "quality", "backend"]
    search_fields = ["prompt", "team__name"]
    date_hierarchy = "created_at"
    inlines = [ArtifactInline]
    actions = ["cancel_jobs"]

    def get_readonly_fields(self, request: HttpRequest, obj: RenderJob | None = None) -> list[str]:
        return [f.name for f in RenderJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Cancel (refunds what was reserved)")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[RenderJob]) -> None:
        for job in queryset:
            lifecycle.render_job_cancel(job=job)
        self.message_user(
            request, f"Cancel requested for {queryset.count()} job(s).", messages.SUCCESS
        )

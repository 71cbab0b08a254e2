from __future__ import annotations

from django.contrib import admin

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "team", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "team__name")
    raw_id_fields = ("team", "created_by")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "url", "team", "state", "attempts", "last_status", "created_at")
    list_filter = ("state", "event")
    search_fields = ("url", "team__name", "event_id")
    raw_id_fields = ("team", "endpoint")
    readonly_fields = ("event_id", "payload", "attempts", "last_status", "last_error")

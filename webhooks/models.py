"""Where a team's events are posted, the secret that signs them, and each delivery.

A delivery is one event for one target URL: a team endpoint, or the callback URL of the
submit a render came from. It is created in the transaction that made the event (an
outbox), so an event is never lost to a crash between the two, and it is posted, signed,
by a Celery task that retries with backoff.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class WebhookEndpoint(models.Model):
    """A URL that receives every event of its team."""

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.url


class WebhookSecret(models.Model):
    """The key a team's deliveries are signed with (HMAC-SHA256). The server must hold it
    to sign, so it is stored as is; the team page shows it to owners and admins."""

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, related_name="webhook_secret"
    )
    secret = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Signing secret of {self.team_id}"

    @property
    def hint(self) -> str:
        return f"{self.secret[:10]}…"


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    # Empty for a callback URL given with a render.
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    # One event posted to several targets shares its id: receivers deduplicate by it.
    event_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    event = models.CharField(max_length=64)
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhookdelivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.url} ({self.state})"

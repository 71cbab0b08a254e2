"""The content policy (admin-editable terms) and its audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModerationTerm(models.Model):
    """One entry of the content policy, matched as a whole word or phrase."""

    class Category(models.TextChoices):
        SEXUAL = "sexual", "Sexual content"
        MINORS = "minors", "Minors"
        VIOLENCE = "violence", "Graphic violence"
        HATE = "hate", "Hate"
        SELF_HARM = "self_harm", "Self-harm"
        IMPERSONATION = "impersonation", "Real-person impersonation"

    phrase = models.CharField(max_length=120, unique=True)
    category = models.CharField(max_length=24, choices=Category.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "phrase"]

    def __str__(self) -> str:
        return f"{self.phrase} ({self.get_category_display()})"


class ModerationDecision(models.Model):
    """Audit trail: every blocked request, with what matched."""

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="moderation_decisions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    source = models.CharField(max_length=40, help_text="What was checked, e.g. 'prompt'.")
    excerpt = models.CharField(max_length=300)
    blocked = models.BooleanField()
    matched = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{'blocked' if self.blocked else 'allowed'} {self.source} ({self.team})"

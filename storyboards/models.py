"""Projects and their shots: what a creator arranges on the storyboard timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.fields import CameraSpecField
from generation.vocabulary import (
    MODE_CHOICES,
    QUALITY_CHOICES,
    RESOLUTION_CHOICES,
    Mode,
    Quality,
    Resolution,
)


class Project(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self) -> str:
        return self.name


class Shot(models.Model):
    """One shot of a project: its request as the composer last saved it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shots")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=120, blank=True)
    prompt = models.TextField()
    mode = models.CharField(max_length=16, choices=MODE_CHOICES, default=Mode.TEXT.value)
    camera = CameraSpecField()
    aspect = models.CharField(
        max_length=8, default="16:9", help_text="The camera's aspect ratio, for listings."
    )
    duration_s = models.PositiveSmallIntegerField(default=5)
    fps = models.PositiveSmallIntegerField(default=24)
    resolution = models.PositiveIntegerField(choices=RESOLUTION_CHOICES, default=Resolution.P720)
    quality = models.CharField(
        max_length=16, choices=QUALITY_CHOICES, default=Quality.STANDARD.value
    )
    seed = models.BigIntegerField(null=True, blank=True, help_text="Empty: a new seed per render.")
    variants = models.PositiveSmallIntegerField(
        default=1, help_text="Takes per render, with seeds s, s+1, …"
    )
    # The take the creator chose ("circled"): what the timeline and the export show.
    # Empty until a first render; a newer render becomes current when it is submitted.
    current_job = models.ForeignKey(
        "generation.RenderJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_s__gte=1), name="shot_duration_gte_1"),
            models.CheckConstraint(
                condition=Q(variants__gte=1, variants__lte=4), name="shot_variants_1_to_4"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.prompt[:60]

    @property
    def aspect_css(self) -> str:
        """The aspect ratio as CSS writes it ("16 / 9"), for frames sized before any video."""
        width, _, height = self.aspect.partition(":")
        return f"{width} / {height or 1}"

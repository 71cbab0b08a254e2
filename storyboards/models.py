"""Projects and their shots: what a creator arranges on the storyboard timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.engine.camera import ASPECT_RATIOS
from generation.fields import CameraSpecField
from generation.vocabulary import (
    MODE_CHOICES,
    QUALITY_CHOICES,
    RESOLUTION_CHOICES,
    Mode,
    Quality,
    Resolution,
)

ASPECT_CHOICES = [(a, a) for a in ASPECT_RATIOS]
FPS_CHOICES = [(f, f"{f} fps") for f in (12, 24, 25, 30)]


class Project(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    # The storyboard as one film: every shot is conformed to this frame and rate on export.
    aspect = models.CharField(max_length=8, choices=ASPECT_CHOICES, default="16:9")
    fps = models.PositiveSmallIntegerField(choices=FPS_CHOICES, default=24)
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

    @property
    def aspect_css(self) -> str:
        """The film's aspect ratio as CSS writes it ("16 / 9")."""
        width, _, height = self.aspect.partition(":")
        return f"{width} / {height or 1}"


class Transition(models.TextChoices):
    """How a shot begins, from the shot before it (the first shot's is ignored)."""

    CUT = "cut", "Cut"
    CROSSFADE = "crossfade", "Crossfade"
    CONTINUE = "continue", "Continue"
    MATCH_CUT = "match_cut", "Match cut"
    AUTO = "auto", "Auto"


TRANSITION_S = (0.2, 2.0)


class Shot(models.Model):
    """One shot of a project: its request as the composer last saved it, and how it begins.

    A shot that continues the one before it starts from that shot's last frame and camera
    pose (it is rendered as an extension of its circled take), so it depends on it.
    ``rendered_inputs`` fingerprints what the circled take was rendered from: when the shot,
    or a shot it depends on, changes after that, the take is stale.
    """

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
    transition = models.CharField(
        max_length=16, choices=Transition.choices, default=Transition.CUT.value
    )
    transition_s = models.FloatField(default=0.5, help_text="A crossfade's length in seconds.")
    rendered_inputs = models.CharField(max_length=64, blank=True)
    # Locked characters picked in the composer (besides the prompt's @Names).
    characters = models.ManyToManyField("characters.Character", blank=True, related_name="shots")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_s__gte=1), name="shot_duration_gte_1"),
            models.CheckConstraint(
                condition=Q(variants__gte=1, variants__lte=4), name="shot_variants_1_to_4"
            ),
            models.CheckConstraint(
                condition=Q(transition_s__gte=TRANSITION_S[0], transition_s__lte=TRANSITION_S[1]),
                name="shot_transition_s_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.prompt[:60]

    @property
    def aspect_css(self) -> str:
        """The aspect ratio as CSS writes it ("16 / 9"), for frames sized before any video."""
        width, _, height = self.aspect.partition(":")
        return f"{width} / {height or 1}"


def export_path(export: StoryboardExport, filename: str) -> str:
    return (
        f"exports/team-{export.project.team_id}/project-{export.project_id}/{export.pk}/{filename}"
    )


class StoryboardExport(models.Model):
    """One export of a storyboard: the film as one MP4, the edit for other editors (an
    OpenTimelineIO file over the per-shot media, a CMX 3600 EDL) and the shots' recipes."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Exporting"
        SUCCEEDED = "succeeded", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    percent = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=80, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    video = models.FileField(upload_to=export_path, max_length=300, blank=True)
    timeline = models.FileField(upload_to=export_path, max_length=300, blank=True)
    edl = models.FileField(upload_to=export_path, max_length=300, blank=True)
    media = models.FileField(upload_to=export_path, max_length=300, blank=True)
    recipes = models.FileField(upload_to=export_path, max_length=300, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    # "host:pid" of the process running it, so an export whose worker died is not left running.
    worker = models.CharField(max_length=128, blank=True)
    # An API client's Idempotency-Key: the same key asks for this export again, not another.
    idempotency_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(percent__lte=100), name="export_percent_lte_100"),
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="export_idempotency_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} of {self.project_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    def files(self) -> list[tuple[str, str, models.fields.files.FieldFile]]:
        """``(kind, label, file)`` for each file the export made, for the download list."""
        out = []
        for kind, label in (
            ("video", "MP4"),
            ("timeline", "OpenTimelineIO"),
            ("edl", "EDL (CMX 3600)"),
            ("media", "Shot media (zip)"),
            ("recipes", "Recipes (zip)"),
        ):
            file = getattr(self, kind)
            if file:
                out.append((kind, label, file))
        return out

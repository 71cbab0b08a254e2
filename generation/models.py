"""Render batches, their jobs and the jobs' artifacts.

A batch is one submit: the takes of one request, made once per idempotency key. A job
freezes its take's full request as a recipe and moves through a state machine (queued →
running → encoding → succeeded | failed | cancelled): ``generation.services`` creates it,
``generation.lifecycle`` moves it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from generation.engine.delivery import delivery_size
from generation.fields import CameraSpecField
from generation.vocabulary import MODE_CHOICES, QUALITY_CHOICES, RESOLUTION_CHOICES


class IllegalTransition(Exception):
    """A bug, not a user's mistake: a job asked to move where its state machine forbids."""


class RenderBatch(models.Model):
    """The takes of one submit (seeds s, s+1, …), reserved together under one lock."""

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="render_batches"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=64, blank=True)
    # SHA-256 of the request as submitted: the same key with another request is refused.
    # Empty for batches older than the fingerprint (they match any replay).
    fingerprint = models.CharField(max_length=64, blank=True)
    takes = models.PositiveSmallIntegerField(default=1)
    # Where each take's state changes are posted, signed (an API client's callback).
    callback_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="renderbatch_idempotency_per_team",
            ),
            models.CheckConstraint(condition=Q(takes__gte=1), name="renderbatch_takes_gte_1"),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.takes} take(s) for {self.team_id}"


def input_path(job: RenderJob, filename: str) -> str:
    return f"inputs/team-{job.team_id}/{filename}"


class RenderJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Rendering"
        ENCODING = "encoding", "Encoding"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Running and encoding jobs may go back to queued: the reaper re-runs a job whose
    # worker died.
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.QUEUED: frozenset({State.RUNNING, State.FAILED, State.CANCELLED}),
        State.RUNNING: frozenset({State.ENCODING, State.QUEUED, State.FAILED, State.CANCELLED}),
        State.ENCODING: frozenset({State.SUCCEEDED, State.QUEUED, State.FAILED, State.CANCELLED}),
        State.SUCCEEDED: frozenset(),
        State.FAILED: frozenset(),
        State.CANCELLED: frozenset(),
    }
    ACTIVE = (State.QUEUED, State.RUNNING, State.ENCODING)

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="render_jobs")
    batch = models.ForeignKey(RenderBatch, on_delete=models.PROTECT, related_name="jobs")
    take = models.PositiveSmallIntegerField(default=0, help_text="0 for a batch's first take.")
    shot = models.ForeignKey(
        "storyboards.Shot", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Inputs: the clip a restyle, extension or reframe starts from, the frame an
    # image-to-video animates (or start + end keyframes run from and to).
    source_job = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived_jobs"
    )
    input_image = models.ImageField(upload_to=input_path, max_length=300, blank=True)
    input_end_image = models.ImageField(upload_to=input_path, max_length=300, blank=True)
    # The request, frozen: everything needed to reproduce the clip.
    prompt = models.TextField()
    mode = models.CharField(max_length=16, choices=MODE_CHOICES)
    quality = models.CharField(max_length=16, choices=QUALITY_CHOICES)
    resolution = models.PositiveIntegerField(choices=RESOLUTION_CHOICES)
    duration_s = models.PositiveSmallIntegerField()
    fps = models.PositiveSmallIntegerField()
    camera = CameraSpecField()
    aspect = models.CharField(max_length=8, help_text="The camera's aspect ratio, for listings.")
    seed = models.BigIntegerField()
    recipe = models.JSONField()
    backend = models.CharField(max_length=32, default="builtin")
    model_version = models.CharField(max_length=64, blank=True)
    # Lifecycle.
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    eta_s = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error_message = models.CharField(
        max_length=500, blank=True, help_text="What the user is told: a plain sentence."
    )
    error_detail = models.TextField(
        blank=True, help_text="The exception behind a failure, for administrators only."
    )
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    priority = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the job was handed to the broker."
    )
    # Credits.
    estimate_credits = models.PositiveIntegerField()
    cost_credits = models.PositiveIntegerField(null=True, blank=True)
    reservation = models.OneToOneField(
        "billing.Reservation", on_delete=models.PROTECT, related_name="job"
    )
    # Results.
    conformance = models.JSONField(null=True, blank=True)
    # How like its locked characters' references the take's figure is: {character id: 0–1},
    # measured by the identity encoder after the take is made; empty without characters.
    character_scores = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]
        constraints = [
            models.UniqueConstraint(fields=["batch", "take"], name="renderjob_one_per_take"),
            models.CheckConstraint(condition=Q(duration_s__gte=1), name="renderjob_duration_gte_1"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk}: {self.prompt[:50]} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def percent(self) -> int:
        if self.state == self.State.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(99, round(100 * self.progress_step / self.progress_total))

    @property
    def delivered_size(self) -> tuple[int, int]:
        return delivery_size(self.resolution, self.aspect)

    @property
    def aspect_css(self) -> str:
        """The aspect ratio as CSS writes it ("9 / 16"), to size the player before the video."""
        width, _, height = self.aspect.partition(":")
        return f"{width} / {height or 1}"

    @property
    def drift_score(self) -> float | None:
        """The lowest similarity of the take's figure to a locked character, or None."""
        scores = [float(v) for v in (self.character_scores or {}).values()]
        return min(scores) if scores else None

    def check_transition(self, new_state: str) -> None:
        if new_state not in self.TRANSITIONS[self.state]:
            raise IllegalTransition(f"A {self.state} job cannot become {new_state}.")


def artifact_path(artifact: Artifact, filename: str) -> str:
    return f"renders/team-{artifact.job.team_id}/job-{artifact.job_id}/{filename}"


class Artifact(models.Model):
    class Kind(models.TextChoices):
        VIDEO = "video", "MP4 video"
        POSTER = "poster", "Poster frame"
        STRIP = "strip", "Thumbnail strip"
        RECIPE = "recipe", "Recipe JSON"

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to=artifact_path, max_length=300)
    bytes = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["job", "kind"], name="artifact_one_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of job {self.job_id}"

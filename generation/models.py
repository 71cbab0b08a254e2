"""Render jobs and their artifacts.

A job freezes the shot's full request as a recipe and moves through a state machine
(queued → running → encoding → succeeded | failed | cancelled) only through
``generation.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from dailies.models import Mode, Quality, Reservation, Resolution, Team


class IllegalTransition(Exception):
    pass


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

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="render_jobs")
    shot = models.ForeignKey(
        "storyboards.Shot", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Inputs: the clip a restyle or extension starts from, the frame an image-to-video
    # animates.
    source_job = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived_jobs"
    )
    input_image = models.ImageField(upload_to=input_path, max_length=300, blank=True)
    # The request, frozen: everything needed to reproduce the clip.
    prompt = models.TextField()
    mode = models.CharField(max_length=16, choices=Mode.choices)
    quality = models.CharField(max_length=16, choices=Quality.choices)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    duration_s = models.PositiveSmallIntegerField()
    fps = models.PositiveSmallIntegerField()
    aspect = models.CharField(max_length=8)
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
    error_message = models.CharField(max_length=500, blank=True)
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
    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="job")
    idempotency_key = models.CharField(max_length=64, blank=True)
    # Results.
    conformance = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="renderjob_idempotency_per_team",
            ),
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
        from generation.delivery import delivery_size

        return delivery_size(self.resolution, self.aspect)

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

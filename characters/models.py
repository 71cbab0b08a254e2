"""Locked characters: a team's figure, its reference images and the adapters trained on them.

A character is locked from a rendered take (a frame and a box around the figure) or from
uploaded images; each lock or retrain trains a new adapter version on the ``gpu`` queue
(``characters.execution``). The character's ``current_adapter`` is the version renders use:
the newest ready one, or an older one the team rolled back to.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

# A name is what follows "@" in a prompt: a letter, then letters, digits, "-" or "_".
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]{0,39}"
MAX_REFERENCES = 8


class Character(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="characters")
    name = models.CharField(max_length=40)
    description = models.CharField(
        max_length=200, blank=True, help_text="The caption the adapter is trained under."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    current_adapter = models.ForeignKey(
        "CharacterAdapter", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", Lower("name").asc()]
        constraints = [
            models.UniqueConstraint(
                "team", Lower("name"), name="character_name_unique_per_team_ci"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def caption(self) -> str:
        return f"{self.name}, {self.description}" if self.description else self.name


def reference_path(reference: CharacterReference, filename: str) -> str:
    return f"characters/team-{reference.character.team_id}/{reference.character_id}/{filename}"


class CharacterReference(models.Model):
    """One reference image: uploaded, or a frame of a take cropped to the figure's box."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="references")
    image = models.ImageField(upload_to=reference_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    source_job = models.ForeignKey(
        "generation.RenderJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    frame_index = models.PositiveIntegerField(null=True, blank=True)
    # The figure's box in the frame's pixels: {"x", "y", "w", "h"}.
    box = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["character", "pk"]

    def __str__(self) -> str:
        return f"Reference {self.pk} of {self.character_id}"


class CharacterAdapter(models.Model):
    """One trained (or training) version of a character's adapter."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS: dict[str, frozenset[str]] = {
        State.QUEUED: frozenset({State.TRAINING, State.FAILED, State.CANCELLED}),
        State.TRAINING: frozenset({State.READY, State.QUEUED, State.FAILED, State.CANCELLED}),
        State.READY: frozenset(),
        State.FAILED: frozenset(),
        State.CANCELLED: frozenset(),
    }
    ACTIVE = (State.QUEUED, State.TRAINING)

    character = models.ForeignKey(Character, on_delete=models.PROTECT, related_name="adapters")
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The adapter's folder (written whole, then renamed into place) and its weights' hash.
    path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    backend = models.CharField(max_length=32, blank=True)
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    record = models.JSONField(default=dict, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    error_detail = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    estimate_credits = models.PositiveIntegerField()
    cost_credits = models.PositiveIntegerField(null=True, blank=True)
    reservation = models.OneToOneField(
        "billing.Reservation", on_delete=models.PROTECT, related_name="character_adapter"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["character", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "version"], name="characteradapter_one_per_version"
            ),
            models.CheckConstraint(
                condition=~Q(state="ready") | ~Q(sha256=""), name="characteradapter_ready_hashed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character} v{self.version} ({self.state})"

    @property
    def team_id(self) -> int:
        return self.character.team_id

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def percent(self) -> int:
        if self.state == self.State.READY:
            return 100
        if not self.progress_total:
            return 0
        return min(99, round(100 * self.progress_step / self.progress_total))

    def check_transition(self, new_state: str) -> None:
        if new_state not in self.TRANSITIONS[self.state]:
            raise ValueError(f"A {self.state} adapter cannot become {new_state}.")

"""Who uses the studio: people (``User``), the teams that own their work, and memberships.

Models hold fields, constraints and cheap properties; writes live in ``services.py``. A team's
plan, credits and ledger belong to ``billing``.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models

from generation.vocabulary import RESOLUTION_CHOICES, Resolution


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an email address (no separate username)."""

    username = None  # type: ignore[assignment]  # the email is the login
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=80, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def short_name(self) -> str:
        return self.display_name or self.email.split("@")[0]


class Team(models.Model):
    """Owner of every object a user creates. Everyone gets a personal team at sign-up."""

    name = models.CharField(max_length=80)
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, related_name="teams")
    billing_anchor = models.DateField(
        help_text="Monthly credits are granted, and unused ones expire, on this day each month."
    )
    is_personal = models.BooleanField(default=False)
    # Per-team overrides, used for Enterprise contracts.
    monthly_credits_override = models.PositiveIntegerField(null=True, blank=True)
    max_resolution_override = models.PositiveIntegerField(
        choices=RESOLUTION_CHOICES, null=True, blank=True
    )
    max_duration_override = models.PositiveSmallIntegerField(null=True, blank=True)
    max_characters_override = models.PositiveSmallIntegerField(null=True, blank=True)
    # A take whose figure scores below this similarity to its character's references is
    # flagged as drifting (0–1, the identity encoder's drift score: held-out takes of the
    # character itself score 0.95 on average, of the nearest other character 0.66).
    drift_threshold = models.FloatField(default=0.8)
    created_at = models.DateTimeField(auto_now_add=True)

    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def monthly_credits(self) -> int:
        if self.monthly_credits_override is not None:
            return self.monthly_credits_override
        return self.plan.monthly_credits

    @property
    def max_resolution(self) -> int:
        return self.max_resolution_override or self.plan.max_resolution

    @property
    def max_duration_s(self) -> int:
        return self.max_duration_override or self.plan.max_duration_s

    @property
    def max_characters(self) -> int:
        if self.max_characters_override is not None:
            return self.max_characters_override
        return self.plan.max_characters

    @property
    def max_resolution_label(self) -> str:
        return Resolution(self.max_resolution).label


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage_members(self) -> bool:
        return self.role == Role.OWNER

    @property
    def can_manage_integrations(self) -> bool:
        """API keys, webhook endpoints and the signing secret."""
        return self.role in (Role.OWNER, Role.ADMIN)


class ApiKey(models.Model):
    """A team's key to the public API. The key is shown once, when it is made; the database
    keeps its prefix (to find it and to name it on the team page) and its SHA-256 (a
    random 32-byte key needs no slow hash). It works while it is not revoked and while
    the member who made it still belongs to the team."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        RENDER = "render", "Render"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_sha256 = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def scope_labels(self) -> str:
        return " + ".join(self.Scope(s).label for s in self.scopes if s in self.Scope.values)

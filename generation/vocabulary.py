"""The product's words for a render: Mode, Quality and Resolution, each defined once.

Mode and Quality are the engine's own enums (``generation.engine.modes``); Resolution is a
delivery height, which the engine never sees (it renders at its native size and the worker
upscales). Django choices derive from these enums, so a model, a form and the engine cannot
disagree on a member's value or label.

Plans, prices and the studio's forms all speak this vocabulary, so it sits below every app:
it imports nothing from Django's apps and nothing of the engine but the enums.
"""

from __future__ import annotations

from enum import Enum

from django.db import models

from generation.engine.modes import Mode, Quality

__all__ = [
    "MODE_CHOICES",
    "QUALITY_CHOICES",
    "RESOLUTION_CHOICES",
    "Mode",
    "Quality",
    "Resolution",
    "choices",
]


class Resolution(models.IntegerChoices):
    """Delivery heights (the short side). 4K is an upscale of a 1080p render."""

    P540 = 540, "540p"
    P720 = 720, "720p"
    P1080 = 1080, "1080p"
    P1440 = 1440, "1440p"
    P2160 = 2160, "4K"


def choices(enum: type[Mode] | type[Quality] | type[Resolution]) -> list[tuple[str | int, str]]:
    """``(value, label)`` pairs for a model or form field, in the enum's order."""
    members: list[Enum] = list(enum)
    return [(member.value, member.label) for member in members]  # type: ignore[attr-defined]


MODE_CHOICES = choices(Mode)
QUALITY_CHOICES = choices(Quality)
RESOLUTION_CHOICES = choices(Resolution)

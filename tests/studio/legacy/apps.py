from __future__ import annotations

from django.apps import AppConfig


class Dailies(AppConfig):
    name = "tests.studio.legacy.dailies"
    label = "dailies"
    default_auto_field = "django.db.models.BigAutoField"


class Generation(AppConfig):
    name = "tests.studio.legacy.generation"
    label = "generation"


class Storyboards(AppConfig):
    name = "tests.studio.legacy.storyboards"
    label = "storyboards"

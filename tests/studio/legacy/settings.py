"""Settings of the first release's database layout: its apps and its user model."""

from __future__ import annotations

from studio.settings import *  # noqa: F403  (the database and storage settings)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tests.studio.legacy.apps.Dailies",
    "tests.studio.legacy.apps.Storyboards",
    "tests.studio.legacy.apps.Generation",
]
AUTH_USER_MODEL = "dailies.User"
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.studio.legacy.urls"
TEMPLATES: list[dict[str, object]] = []

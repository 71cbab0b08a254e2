"""The Dailies project package and its platform: accounts, teams, plans, credits."""

from __future__ import annotations

from dailies.celery import app as celery_app

__all__ = ["celery_app"]

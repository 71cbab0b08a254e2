"""The Django project package: settings, URLs, the ASGI and Celery applications, the stack
supervisor (``manage.py runstack``), and the two things every app shares: ``errors.UserError``
and the view helper that shows one on a form."""

from __future__ import annotations

from studio.celery import app as celery_app

__all__ = ["celery_app"]

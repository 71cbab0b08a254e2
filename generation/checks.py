"""System checks: a process configured with an unknown backend or bad backend settings does
not start (``manage.py check`` and every ``runserver``/worker start run them)."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register()
def backend_is_known(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from generation import runtime

    try:
        runtime.engine_info()
        runtime.backend_settings()
    except ValueError as exc:
        return [
            checks.Error(
                f"DAILIES_BACKEND: {exc}",
                hint="docs/backends.md lists the backends and their settings.",
                id="generation.E001",
            )
        ]
    return []

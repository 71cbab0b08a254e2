"""One backend per worker process, built from settings on first use."""

from __future__ import annotations

import functools

from generation.backends.base import Backend, BackendSettings
from generation.backends.catalog import BUILTIN, backend_spec


@functools.cache
def load_backend(settings: BackendSettings) -> Backend:
    """The backend `settings` name, built once per process (its models load on first use).

    Raises:
        ValueError: an unknown backend name (the message lists the known ones).
    """
    if settings.backend == BUILTIN:
        from generation.backends.builtin import BuiltinBackend

        return BuiltinBackend(settings)
    spec = backend_spec(settings.backend)
    if spec.family == "wan":
        from generation.backends.wan import WanBackend

        return WanBackend(spec, settings)
    from generation.backends.ltx import LTXBackend

    return LTXBackend(spec, settings)

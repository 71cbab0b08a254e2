"""The studio's Celery app with the progress callback timed, for bench/render_overhead.py.

Loaded by a benchmark worker only (``celery -A bench.instrumented_worker:app``): production
code carries no timing hooks. Each callback that pushes an update appends one line
``job step t_enter t_return`` (``time.time()``) to ``$DAILIES_BENCH_PROGRESS_LOG``; the
benchmark matches them with the websocket client's receipt times for the same step.
"""

from __future__ import annotations

import os
import time

from generation import progress
from studio.celery import app

__all__ = ["app"]

_LOG = os.environ["DAILIES_BENCH_PROGRESS_LOG"]
_reporter_call = progress.ProgressReporter.__call__


def _timed_call(self: progress.ProgressReporter, step: int, total: int) -> None:
    entered = time.time()
    last_push = self.last_push
    _reporter_call(self, step, total)
    if self.last_push != last_push:  # throttled calls push nothing: nothing to time
        returned = time.time()
        with open(_LOG, "a") as log:
            log.write(f"{self.job.pk} {step} {entered!r} {returned!r}\n")


progress.ProgressReporter.__call__ = _timed_call  # type: ignore[method-assign]

"""Run the same work from several threads at once, each with its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


def race(n_threads: int, work: Callable[[int], object]) -> list[object]:
    """``work(i)`` in ``n_threads`` threads released together; each result, or the
    exception it raised, in thread order."""
    barrier = threading.Barrier(n_threads)
    results: list[object] = [None] * n_threads

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # the outcome under test, collected for the assertions
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results

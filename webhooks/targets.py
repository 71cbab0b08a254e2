"""Which URLs a delivery may go to, and the one HTTP request that posts it.

A webhook makes the server send requests where a customer says, so a URL that leads into
the server's own network (loopback, private ranges, link-local such as a cloud's metadata
service) is refused unless ``WEBHOOK_ALLOW_PRIVATE_TARGETS`` is on. The name is resolved
when the URL is given and again at each delivery, and the request goes to the address
that was checked (a name that changes its answer in between cannot redirect it);
redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

from studio.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(UserError):
    """A URL deliveries may not go to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def target_check(url: str, *, field: str = "url") -> Target:
    """Parse, resolve and vet ``url``. Raises :class:`TargetRefused` naming ``field``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"That URL cannot be read: {exc}.", field=field) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("Give an http:// or https:// URL with a host name.", field=field)
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host} cannot be resolved.", field=field) from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{host} cannot be resolved.", field=field)
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and not all(map(_public, addresses)):
        raise TargetRefused(
            f"{host} leads to a private, loopback or link-local address: webhooks go to "
            "public addresses only.",
            field=field,
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout_s: float) -> int:
    """POST ``body`` to the checked address; returns the status code. Raises
    ``urllib3.exceptions.HTTPError`` (and ``OSError``) when no answer came."""
    timeout = urllib3.Timeout(connect=min(5.0, timeout_s), read=timeout_s)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            str(target.address),
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            str(target.address), target.port, timeout=timeout, retries=False
        )
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Host": host if target.port == default_port else f"{host}:{target.port}",
            },
            redirect=False,
            preload_content=False,
        )
        status = response.status
        response.close()  # the body is not read: a receiver's answer is its status
        return status

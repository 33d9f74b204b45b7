"""A bounded HTTP/1.1 client (RFC 9112 over :mod:`http.client`) for asking other servers:
a log's witnesses (tlog-witness ``add-checkpoint``) and a monitored log's checkpoint and
consistency proofs.

Every call has a connect timeout, a total deadline (each socket operation waits at most what
is left of it) and a bound on the answer's body: an answer that is longer, slower or cut
short raises :class:`RemoteError`, never hangs. Redirects are not followed; http and https only.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from credshare.foundation.errors import CredshareError

CONNECT_SECONDS = 2.0
TOTAL_SECONDS = 5.0
READ_CHUNK = 16 * 1024


class RemoteError(CredshareError):
    """Another server could not be asked: unreachable, too slow, or an answer out of bounds."""

    code = "remote_unavailable"
    http_status = 502


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str  # the media type, lowercased, without parameters
    body: bytes


def request(method: str, url: str, *, body: bytes | None = None, content_type: str | None = None,
            max_bytes: int, connect_seconds: float = CONNECT_SECONDS, total_seconds: float = TOTAL_SECONDS) -> Answer:
    """Send one request and read the whole answer (at most ``max_bytes`` of body)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"not an http(s) URL: {url!r}")
    deadline = time.monotonic() + total_seconds
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=connect_seconds,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_seconds)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"User-Agent": "credshare", "Accept": "text/plain, */*"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        connection.connect()
        _left(connection, deadline)
        connection.request(method, path, body=body, headers=headers)
        _left(connection, deadline)
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise RemoteError(f"{url}: the answer is {length} bytes, more than {max_bytes}")
        data = bytearray()
        while True:
            _left(connection, deadline)
            chunk = response.read1(READ_CHUNK)
            if not chunk:
                break
            data += chunk
            if len(data) > max_bytes:
                raise RemoteError(f"{url}: the answer is more than {max_bytes} bytes")
        media = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
        return Answer(response.status, media, bytes(data))
    except (OSError, http.client.HTTPException) as exc:
        why = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else type(exc).__name__
        raise RemoteError(f"{url}: {why}") from None
    finally:
        connection.close()


def _left(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Let the next socket operation wait at most what is left until ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the total deadline passed")
    if connection.sock is not None:
        connection.sock.settimeout(left)

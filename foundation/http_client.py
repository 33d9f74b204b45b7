"""A bounded HTTP/1.1 client (RFC 9112 over :mod:`http.client`) for asking other servers:
a log's witnesses (tlog-witness ``add-checkpoint``) and a monitored log's checkpoint and
consistency proofs.

Every call has a connect timeout, a total deadline (each socket operation waits at most what
is left of it) and a bound on the answer's body: an answer that is longer, slower or cut
short raises :class:`RemoteError`, never hangs. Redirects are not followed; http and https only.

A URL that came from outside (a record's issuer URL, a link pasted by a visitor) may point at
this machine or its private network (server-side request forgery): asked with
``public_only=True``, the host must resolve to public addresses only (``ipaddress.is_global``),
unless the operator allows it by name (``allowed_hosts``, e.g. a test rig's ``127.0.0.1``), and
the connection goes to the address that was checked, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from credshare.foundation.errors import CredshareError

CONNECT_SECONDS = 2.0
TOTAL_SECONDS = 5.0
READ_CHUNK = 16 * 1024
MAX_URL_CHARS = 2048


class RemoteError(CredshareError):
    """Another server could not be asked: unreachable, too slow, or an answer out of bounds."""

    code = "remote_unavailable"
    http_status = 502


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str  # the media type, lowercased, without parameters
    body: bytes


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to ``address`` for the host named in the URL (Host header)."""

    def __init__(self, host: str, port: int | None, address: str, **options: Any) -> None:
        super().__init__(host, port, **options)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to ``address``, the certificate checked for the URL's host (SNI too)."""

    def __init__(self, host: str, port: int | None, address: str, context: ssl.SSLContext, **options: Any) -> None:
        super().__init__(host, port, context=context, **options)
        self._address, self._tls = address, context

    def connect(self) -> None:
        plain = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(plain, server_hostname=self.host)


def public_address(host: str, port: int, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public
    (not loopback, private, link-local, shared, reserved or multicast), unless the operator
    allows the host by name. Raises :class:`RemoteError` (``remote_address_refused``)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RemoteError(f"{host}: the name does not resolve") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise RemoteError(f"{host}: the name does not resolve")
    if host.lower().strip("[]") in allowed_hosts:
        return addresses[0]
    for address in addresses:
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
            raise RemoteError(f"{host}: resolves to a private or local address, which is never asked for a URL "
                              "that came from outside", code="remote_address_refused")
    return addresses[0]


def request(method: str, url: str, *, body: bytes | None = None, content_type: str | None = None,
            max_bytes: int, connect_seconds: float = CONNECT_SECONDS, total_seconds: float = TOTAL_SECONDS,
            headers: Mapping[str, str] | None = None, public_only: bool = False,
            allowed_hosts: frozenset[str] = frozenset()) -> Answer:
    """Send one request and read the whole answer (at most ``max_bytes`` of body). ``headers``
    adds to (or replaces) the default ``User-Agent`` and ``Accept``; never ``Host``.
    ``public_only``: the URL came from outside (see the module's docstring)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"not an http(s) URL: {url!r}")
    deadline = time.monotonic() + total_seconds
    connection: http.client.HTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = public_address(parts.hostname, port, allowed_hosts) if public_only else None
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = (_PinnedHTTPS(parts.hostname, parts.port, address, context, timeout=connect_seconds) if address
                      else http.client.HTTPSConnection(parts.hostname, parts.port, timeout=connect_seconds, context=context))
    elif address:
        connection = _PinnedHTTP(parts.hostname, parts.port, address, timeout=connect_seconds)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_seconds)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {"User-Agent": "credshare", "Accept": "text/plain, */*",
            **{k: v for k, v in (headers or {}).items() if k.lower() != "host"}}
    if content_type is not None:
        sent["Content-Type"] = content_type
    try:
        connection.connect()
        _left(connection, deadline)
        connection.request(method, path, body=body, headers=sent)
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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_remote_url(url: str) -> str:
    """A URL another organisation's server may be asked at: ``https``, or ``http`` to a
    loopback host only (tests, a local proxy), with no user information; raises
    :class:`RemoteError` (``remote_url_refused``) otherwise. Returns the URL."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname or parts.username is not None or len(url) > MAX_URL_CHARS:
        raise RemoteError(f"not a URL another server can be asked at: {url!r}", code="remote_url_refused")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url
    raise RemoteError(f"{url}: https is required (plain http only to this machine)", code="remote_url_refused")


def fetch(url: str, *, max_bytes: int, media_types: tuple[str, ...] = (), accept: str | None = None,
          public_only: bool = False, allowed_hosts: frozenset[str] = frozenset()) -> Answer:
    """``GET`` a resource of another organisation's server: the URL must pass
    :func:`check_remote_url`; anything but ``200`` (a redirect included: never followed), or a
    media type not in ``media_types`` (when given), raises :class:`RemoteError`.
    ``public_only``, ``allowed_hosts``: as :func:`request`."""
    answer = request("GET", check_remote_url(url), max_bytes=max_bytes, headers={"Accept": accept} if accept else None,
                     public_only=public_only, allowed_hosts=allowed_hosts)
    if answer.status != 200:
        why = "redirects elsewhere (not followed)" if 300 <= answer.status < 400 else f"answered {answer.status}"
        raise RemoteError(f"{url}: {why}")
    if media_types and answer.content_type not in media_types:
        raise RemoteError(f"{url}: answered {answer.content_type or 'no media type'}, not {' or '.join(media_types)}")
    return answer


def _left(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Let the next socket operation wait at most what is left until ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the total deadline passed")
    if connection.sock is not None:
        connection.sock.settimeout(left)

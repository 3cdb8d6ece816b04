"""Where an alert's webhook may go, and the one POST that goes there.

The URL policy (checked when a rule is saved, and again before every delivery):
1. The scheme is https; http only to a host in ALERTS_WEBHOOK_ALLOWED_HOSTS (the operator's list).
   No user name or password in the URL; a host is required.
2. The host is resolved (socket.getaddrinfo; an IP literal is its own address). A name that does
   not resolve is refused ("host not found").
3. Unless the host is in ALERTS_WEBHOOK_ALLOWED_HOSTS, EVERY resolved address must be public: not
   unspecified, loopback, link-local, multicast, private, reserved or otherwise non-global (an
   IPv4-mapped IPv6 address is judged as the IPv4 address it maps).

The POST connects to the address that was checked (no second lookup a rebinding DNS server could
answer differently), sends the host name in the Host header and in TLS's SNI and verifies the
certificate against it, follows no redirect, and gives up after ALERTS_WEBHOOK_TIMEOUT_SECONDS.
The standard library's http.client does it: no client library needed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
RESPONSE_READ_BYTES = 64 * 1024


class WebhookRefused(Exception):
    """The URL breaks the policy; `reason` says how ("scheme must be https", ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (lower case), for the Host header, SNI and the certificate
    port: int
    path: str  # path and query
    address: str  # the checked address the POST connects to


def _allowed(host: str) -> bool:
    return host in settings.ALERTS_WEBHOOK_ALLOWED_HOSTS


def address_class(address: str) -> str | None:
    """What makes `address` unreachable for webhooks ("loopback", "private", ...), or None when it is
    a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, test in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if test:
            return kind
    return None if ip.is_global else "non-public"


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookRefused("host not found") from None
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    if not addresses:
        raise WebhookRefused("host not found")
    return addresses


def url_check(url: object) -> Target:
    """The URL's target with the address to connect to, or WebhookRefused naming why."""
    if not isinstance(url, str) or not url:
        raise WebhookRefused("url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookRefused(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("url is not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http"):
        raise WebhookRefused("scheme must be https")
    if not host:
        raise WebhookRefused("url has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("url must not hold a user name or password")
    allowed = _allowed(host)
    if scheme == "http" and not allowed:
        raise WebhookRefused("scheme must be https (http only to the hosts an operator allows)")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not allowed:
        for address in addresses:
            kind = address_class(address)
            if kind is not None:
                raise WebhookRefused(f"resolves to a {kind} address {address}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the address itself (no resolver involved, not even for a literal)."""
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = _connect(self._address, self.port, self.timeout)
        # SNI and certificate verification against the host name, on the checked address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POSTs `body` to `url` after checking it (WebhookRefused); OSError (http.client's errors
    included) for a network failure or the time limit."""
    target = url_check(url)
    timeout = float(settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS)
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(RESPONSE_READ_BYTES).decode("utf-8", "replace")
        return Answer(status=response.status, body=text)
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {exc!r}") from exc
    finally:
        connection.close()

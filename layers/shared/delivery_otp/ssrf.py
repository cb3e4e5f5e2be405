"""Which webhook URLs we may send to, and the one address each send connects to.

A storefront names the URL, so without a guard it could point the dispatcher at our own network: the
instance metadata service, a private address, loopback. The rule:

- `https` only; no user name or password in the URL.
- The host is resolved, and every address it resolves to must be public. Refused: unspecified
  (`0.0.0.0`, `::`), loopback, private, link-local (the metadata service `169.254.169.254` among them),
  carrier-grade NAT (`100.64.0.0/10`), unique-local (`fc00::/7`), multicast, reserved and documentation
  ranges (everything Python's `ipaddress` does not call global), and every IPv6 form that carries an IPv4
  address inside it (IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96` and
  `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo `2001::/32`): a receiver has no need of them, and the
  address inside may be anything.
- A host spelled as a number in any of the forms the C library accepts (`127.1`, `0x7f000001`,
  `017700000001`) is read as that address, as a client would read it, not as a name.
- The check is made when the endpoint is registered and again at each send, and the send connects to
  the address that was checked (`Target.address`): a name cannot be made to resolve elsewhere between
  the check and the connection.

Only the local stack, by a setting that is off in the template, also accepts `http://127.0.0.1:PORT`
(its receivers run on the same machine).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from delivery_otp.errors import InvalidInput

MAX_URL_LENGTH = 2048
# Resolves a host name to its addresses (text); the default asks the operating system.
Resolver = Callable[[str], Sequence[str]]

_EMBEDDING = tuple(
    ipaddress.ip_network(net)
    for net in ("::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)


class RefusedUrl(InvalidInput):
    """A URL we will not send to; 422 naming the field when it comes from a request."""

    def __init__(self, reason: str, field: str = "url") -> None:
        super().__init__(field, reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where one send goes: the URL's parts and the address that was checked."""

    scheme: str
    host: str  # as the URL names it: the Host header and, for https, the TLS server name
    port: int
    path: str  # path and query, as sent in the request line
    address: str


def system_resolver(host: str) -> list[str]:
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedUrl(f"the host {host!r} does not resolve") from exc
    return [str(info[4][0]) for info in found]


def refusal(address: str) -> str | None:
    """Why this address is not one we send to, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an address"
    if ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast or not ip.is_global:
        return f"{ip} is not a public address"
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _EMBEDDING):
        return f"{ip} embeds an IPv4 address"
    return None


def _literal(host: str) -> str | None:
    """The address a host spelled as a number stands for, or None for a name."""
    if ":" in host:
        return host  # IPv6: only a literal can contain a colon
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: object, *, resolver: Resolver = system_resolver, allow_local_http: bool = False) -> Target:
    """The URL's target with a checked address, or RefusedUrl saying why not."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"required, an https URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedUrl("not a valid URL") from exc
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("a URL with a user name or password is refused")
    if not host:
        raise RefusedUrl("the URL names no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if allow_local_http and parts.scheme == "http" and host == "127.0.0.1" and port:
        return Target("http", host, port, path, "127.0.0.1")
    if parts.scheme != "https":
        raise RefusedUrl("must be an https URL")
    literal = _literal(host)
    addresses = [literal] if literal is not None else list(resolver(host))
    if not addresses:
        raise RefusedUrl(f"the host {host!r} does not resolve")
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise RefusedUrl(f"refused: {reason}")
    return Target("https", host, port or 443, path, addresses[0])
